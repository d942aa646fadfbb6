import { CUSTOM_ELEMENTS_SCHEMA, Component, ElementRef, signal, viewChild } from '@angular/core';
import 'accel';
import type { AccelStream, AccelModelReadyDetail, AccelTokenDetail, GenerationResult } from 'accel';

@Component({
  selector: 'app-root',
  schemas: [CUSTOM_ELEMENTS_SCHEMA],
  template: `
    <accel-model id="tiny" [src]="src()" [attr.backend]="backend()" preload (accel-ready)="onReady($event)"></accel-model>
    <label>Prompt <input id="prompt" [value]="prompt()" (input)="prompt.set($any($event.target).value)" /></label>
    <button id="generate" (click)="stream().nativeElement.generate()">Generate</button>
    <accel-stream #streamEl model="tiny" [prompt]="prompt()" [maxTokens]="maxTokens()" temperature="0"
      (accel-token)="onToken($event)" (accel-done)="onDone($event)"></accel-stream>
    <p>Loaded on <output id="ready">{{ loadedOn() }}</output>, <output id="tokens">{{ tokens() }}</output> tokens</p>
    <p id="result">{{ result() }}</p>
  `,
})
export class App {
  readonly src = signal('/models/tiny-llama/');
  readonly backend = signal<'wasm' | 'cpu' | 'webgpu' | 'auto'>('wasm');
  readonly prompt = signal('You will');
  readonly maxTokens = signal(12);
  readonly loadedOn = signal('');
  readonly tokens = signal(0);
  readonly result = signal('');
  readonly stream = viewChild.required<ElementRef<AccelStream>>('streamEl');

  onReady(e: Event) {
    this.loadedOn.set((e as CustomEvent<AccelModelReadyDetail>).detail.backend);
  }
  onToken(e: Event) {
    this.tokens.set((e as CustomEvent<AccelTokenDetail>).detail.index + 1);
  }
  onDone(e: Event) {
    this.result.set((e as CustomEvent<GenerationResult>).detail.text);
  }
}
