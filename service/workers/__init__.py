"""More than one core: ``referrals run`` as a parent and its worker processes.

- ``count``: how many workers when not told (the usable CPUs, capped by the partitions).
- ``parent``: the parent's composition: the store opened (and migrated) once, the read API,
  the one HTTP port for the whole (``/healthz``, ``/readyz``, ``/metrics``), the workers.
- ``supervisor``: starts the workers, restarts one that dies (with backoff), gives up when
  they keep dying, and stops them with the parent.
- ``worker``: a worker process: the full consume loop, a member of the consumer group; the
  first worker also runs expiry, the retention clean-up and the count of referrals per state.
- ``reports``: each worker's readiness, written to a file the parent reads.
- ``metrics``: the workers' series (prometheus-client's multiprocess files) summed into the
  parent's exposition beside its own.
"""
