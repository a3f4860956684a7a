"""The worker that runs inside one instance: it loads a scoring script and serves it over HTTP.

It behaves like Azure's inference server (azmlinfsrv) for undecorated scoring scripts. Run it as
``python -P -m epdev.runtimes.worker``; the command line is described in
epdev.runtimes.worker.main. Keep its imports light: it starts once per instance.
"""
