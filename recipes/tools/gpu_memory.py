"""The benchmark's GPU memory: a GPU made a smaller one (`hold_rest_of_gpu`, another process holding the rest, and
`report_total`, PyTorch's memory queries answering as on that GPU), and the peak in use (`MemoryPeak`)."""

import subprocess
import sys
import threading

HOLDER = """import sys, torch
keep = int(sys.argv[1])
free, total = torch.cuda.mem_get_info()
held = torch.empty(max(free - keep, 0), dtype=torch.uint8, device="cuda")
free, total = torch.cuda.mem_get_info()
print(total - free, total, flush=True)
sys.stdin.read()  # held until the run ends: its end closes this pipe, also when it is killed
"""


def hold_rest_of_gpu(memory_gb: float) -> tuple[subprocess.Popen | None, int, int]:
    """Another process takes all of the GPU but `memory_gb`: that process (None on a GPU no bigger, where nothing is
    held), the bytes left unavailable to the run, and the GPU's whole memory."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(int(memory_gb * 2**30))], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    numbers = holder.stdout.readline().split()
    if len(numbers) != 2 or not all(n.isdigit() for n in numbers):
        holder.kill()
        raise RuntimeError(f"could not hold the GPU memory beyond {memory_gb:g} GB (holder exit {holder.wait()})")
    unavailable, total = map(int, numbers)
    if total <= memory_gb * 2**30:  # already that small: the holder's own CUDA context would only take from the run
        holder.stdin.close()
        holder.wait()
        return None, 0, total
    return holder, unavailable, total


def report_total(torch, unavailable: int) -> None:
    """torch.cuda.mem_get_info (read by Unsloth) and torch.accelerator.get_memory_info (by vLLM) answer as on a GPU
    whose memory is what the holder left."""
    def shrunk(real):
        def get_memory_info(device=None):
            free, total = real(device)
            return free, total - unavailable
        return get_memory_info

    torch.cuda.mem_get_info = shrunk(torch.cuda.mem_get_info)
    accelerator = getattr(torch, "accelerator", None)
    if hasattr(accelerator, "get_memory_info"):
        accelerator.get_memory_info = shrunk(accelerator.get_memory_info)


class MemoryPeak:
    """The most GPU memory in use on the device (every allocator, the CUDA context), sampled in a thread."""

    def __init__(self, interval: float = 0.1):
        import torch
        self.torch, self.interval, self.peak, self._stop = torch, interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.is_set():
            free, total = self.torch.cuda.mem_get_info()
            self.peak = max(self.peak, total - free)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def restart(self) -> int:
        """The peak so far; from now on, the peak from the memory in use now."""
        free, total = self.torch.cuda.mem_get_info()
        before, self.peak = self.peak, total - free
        return max(before, self.peak)
