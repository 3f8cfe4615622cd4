"""Case runs on a PostgreSQL job queue (Procrastinate), for agencies that outgrow one machine.

One job per case. ``vet run --queue`` defers the jobs (:mod:`vetting.queue.control`), ``vet
worker`` runs them (:mod:`vetting.queue.worker`): each job runs its case in a fresh process
(:mod:`vetting.queue.child`: one Twisted reactor and one browser per process, so a crash stays
inside one case), holds the case's lock so no two workers run it, and is retried after a worker
dies. The guard's per-host delay and concurrency hold across every worker together
(:mod:`vetting.queue.hostslots`). On SQLite none of this exists: the queue commands refuse.

Modules: :mod:`~vetting.queue.database` (PostgreSQL check, connection string, own tables),
:mod:`~vetting.queue.app` (the Procrastinate app and its one task), :mod:`~vetting.queue.job`
(what a job does), :mod:`~vetting.queue.worker`, :mod:`~vetting.queue.control` (defer, status,
cancel), :mod:`~vetting.queue.child`, :mod:`~vetting.queue.hostslots`.
"""
