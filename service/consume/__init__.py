"""The consume side: from a polled Kafka record to its stored state, events and offset.

Read it top-down, one timeline a module; each uses only the ones below it:

- ``loop``: poll a batch, decide it beside the batch in flight, hand it over.
- ``landing``: the batch in flight and its publish; where a batch is written (the store's
  choice, made once).
- ``commits``: offset commits in order, one in flight, handed over without waiting.
- ``recovery``: a failed batch again: outages retried with backoff, a poison record
  isolated and dead-lettered.
- ``stages``: the stages of one batch (load and decide, write, publish, drain the outbox,
  dead-letter), each raising its own failure with its stage.
- ``decision``: deciding a batch, pure: outcomes and the one transaction to write.
- ``records``: a polled record read once, decoded or not.
- beside them: ``publisher`` (outbox to Kafka, in order), ``ownership`` (the group's
  assignment and the outbox backlog it may bring), ``lag``, ``recent`` (the referrals last
  read or written) and ``tracing``.

The parts are composed in ``service.app``.
"""
