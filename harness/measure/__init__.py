"""Measuring cost: time, latency distributions, throughput and memory, each with its method.

* ``figures``: the object every cost figure in a result is (value, unit, method, samples, ...);
* ``clock``: the monotonic clock, read after a device sync;
* ``devices``: CPU and CUDA devices (sync, peak memory), ``auto`` resolution;
* ``memory``: peak resident memory per phase (``/proc/self/clear_refs`` or a sampling thread),
  parameter and index sizes;
* ``meter``: what a phase measurement is made of (wall time, memory, device peaks), nesting-safe;
* ``latency``: single-stream and offline loops, percentiles with bootstrap intervals;
* ``hardware``: the machine's fingerprint and its hash;
* ``isolation``: a cell in a fresh subprocess (threads, affinity, timeout, killed children).

Nothing here imports torch or numpy at module level: ``import harness`` stays light.
docs/measurement.md describes every figure and its method.
"""
