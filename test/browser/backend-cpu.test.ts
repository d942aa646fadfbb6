import { createCpuBackend } from '../../engine/backends/cpu/index.js';
import { describeBackendParity } from '../helpers/backend-parity.js';

// cpu against cpu: proves the shared parity harness itself runs in the browser lane.
describeBackendParity('cpu', createCpuBackend);
