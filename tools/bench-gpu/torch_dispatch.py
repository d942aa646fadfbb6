"""The CUDA side of bench-dispatch: GPU µs per dependent tiny kernel on the same GPU, eager and in a CUDA graph."""
import json, sys, torch

reps = 1000
x = torch.zeros(64, device='cuda')
def chain():
    y = x
    for _ in range(reps):
        y = y + 1
    return y
rows = {}
for name in ('eager', 'graph'):
    if name == 'graph':
        g = torch.cuda.CUDAGraph()
        chain(); torch.cuda.synchronize()
        with torch.cuda.graph(g):
            chain()
        run = g.replay
    else:
        run = chain
    run(); torch.cuda.synchronize()
    best = float('inf')
    for _ in range(5):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); run(); b.record(); torch.cuda.synchronize()
        best = min(best, a.elapsed_time(b) * 1000 / reps)
    rows[name] = best
    print(f'torch {name}: {best:.2f} µs per dependent kernel')
if len(sys.argv) > 1:
    json.dump({'device': torch.cuda.get_device_name(), 'reps': reps, 'usPerKernel': rows}, open(sys.argv[1], 'w'), indent=2)
