import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  // accel is linked (file:../../..): its imports of react would otherwise resolve from the kit's own folder
  resolve: { dedupe: ['react', 'react-dom', '@lit/react'] },
});
