# gunicorn settings for flaskapp (https://docs.gunicorn.org/en/stable/settings.html).
# A conffile: your edits survive upgrades. Apply them with `systemctl reload flaskapp`.
import os

# No `bind`: the listening socket comes from flaskapp.socket (systemd socket activation).
# Setting one would make gunicorn open a listener of its own and drop the systemd one.
# No `wsgi_app` either: flaskapp.service names the app (see setup.cfg), so that an edited
# copy of this file never keeps an old app's name.

# Worker processes: GUNICORN_WORKERS in /etc/flaskapp/flaskapp.env, else one per CPU + 1
# (2 on a 1-vCPU VM, about 30 MiB each). Sync workers, one request at a time: nginx buffers
# slow clients, so a sync worker never waits on one; in docs/benchmarks.md they served as
# many requests as gthread workers with a quarter of the p99 latency. An app that waits on
# I/O (a database, an API) wants threads: worker_class = "gthread" and threads = 4, or more
# workers. gunicorn turns sync workers into gthread ones whenever threads > 1.
_concurrency = os.environ.get("GUNICORN_WORKERS", "")
if _concurrency and not _concurrency.isdigit():
    raise SystemExit(
        f"GUNICORN_WORKERS={_concurrency!r} in /etc/flaskapp/flaskapp.env: must be a number of workers"
    )
workers = int(_concurrency or 0) or len(os.sched_getaffinity(0)) + 1
worker_class = "sync"
threads = 1

# For gthread workers (sync workers close every connection): longer than nginx's upstream
# keepalive_timeout, so nginx never reuses a connection that gunicorn is closing.
keepalive = 75
timeout = 30
# In-flight requests get this long to finish on stop and reload (below TimeoutStopSec=40).
graceful_timeout = 30

# Only nginx can connect to the socket, so its X-Forwarded-* headers are trusted.
forwarded_allow_ips = "*"

# Logs go to the journal: `journalctl -u flaskapp`. nginx already logs every request.
errorlog = "-"
accesslog = None
# The service runs with no home and a read-only file system: no control socket. Worker
# heartbeats (a file each worker touches every second) go to a tmpfs, as gunicorn's docs
# advise: /tmp is on disk on Debian 12, and /dev/shm is memory on every Debian.
control_socket_disable = True
worker_tmp_dir = "/dev/shm"
