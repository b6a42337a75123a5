"""moto server with AWS's per-request atomicity.

moto's own server runs requests on parallel threads without locking its backends, so two
concurrent conditional writes to one DynamoDB item can both succeed — which real DynamoDB never
allows. This runs the same application behind one lock: clients still send truly concurrent
requests (the conformance suites race several of them), and moto applies them one at a time, as
DynamoDB applies writes to an item.

Usage: python scripts/moto_atomic.py HOST PORT
"""
import os
import sys
import threading

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

host, port = sys.argv[1], int(sys.argv[2])
os.environ.setdefault("MOTO_PORT", str(port))
app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


def atomic(environ, start_response):
    with lock:
        # Drain the response inside the lock: the backend's work happens while it is produced.
        return list(app(environ, start_response))


run_simple(host, port, atomic, threaded=True, request_handler=MotoRequestHandler)
