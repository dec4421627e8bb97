#!/usr/bin/env python3
"""A Hugging Face hub on loopback for the hub tests: the resolve endpoint on one port (the hub)
and the large-file CDN it redirects to on another port under another host name (localhost
instead of 127.0.0.1), both serving repositories described by a JSON file the test writes:

  {"tokens": {"TOKEN": ["org/name", ...]},           # token -> gated repos it may read
   "repos": {"org/name": {"commit": "<40 hex>", "gated": false,
                          "files": {"config.json": {"content": "...", "lfs": false,
                                                    "interrupt": 0}}}}}

An lfs file answers 302 to the CDN with X-Linked-Etag (sha256) and X-Linked-Size, as the hub
does; other files answer 200 with ETag (the git blob sha1). "interrupt": N makes the first N GETs
of a file send its headers and half of its bytes, then close the connection. Ranges are honoured.
Every request is appended to the log file as one JSON line (server, method, path, authorization,
range) before it is answered. The first line on stdout is "ready HUB_PORT CDN_PORT".
"""
import hashlib
import http.server
import json
import socket
import sys
import threading

config = json.load(open(sys.argv[1]))
log_path = sys.argv[2]
log_lock = threading.Lock()
interrupts = {}  # (repo, file) -> GETs still to interrupt
cdn_port = 0


def etags(content):
    data = content.encode()
    sha1 = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    return sha1, hashlib.sha256(data).hexdigest()


def log(server, handler):
    entry = {
        "server": server,
        "method": handler.command,
        "path": handler.path,
        "authorization": handler.headers.get("Authorization"),
        "range": handler.headers.get("Range"),
    }
    with log_lock, open(log_path, "a") as f:
        f.write(json.dumps(entry) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_name_ = "hub"

    def log_message(self, *args):
        pass

    def reply(self, status, headers=(), body=b""):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code, message):
        self.reply(status, [("X-Error-Code", code), ("X-Error-Message", message)],
                   message.encode())

    def send_file(self, key, data, headers):
        """200 or 206 with the bytes of `data`; interrupted when the file says so."""
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= len(data):
                self.reply(416, [("Content-Range", "bytes */%d" % len(data))])
                return
        part = data[start:]
        self.send_response(206 if start else 200)
        for k, v in headers:
            self.send_header(k, v)
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if self.command == "GET" and interrupts.get(key, 0) > 0:
            interrupts[key] -= 1
            self.wfile.write(part[: len(part) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(part)

    def do_HEAD(self):
        self.handle_any()

    def do_GET(self):
        self.handle_any()

    def handle_any(self):
        log(self.server_name_, self)
        if self.server_name_ == "cdn":
            return self.cdn()
        parts = self.path.split("?")[0].split("/")
        # /org/name/resolve/revision/file...
        if len(parts) < 6 or parts[3] != "resolve":
            return self.error(404, "EntryNotFound", "not a resolve URL")
        repo_id = parts[1] + "/" + parts[2]
        revision = parts[4]
        file = "/".join(parts[5:])
        repo = config["repos"].get(repo_id)
        if repo is None:
            return self.error(404, "RepoNotFound", "Repository not found")
        if repo.get("gated"):
            auth = self.headers.get("Authorization")
            if not auth:
                return self.error(401, "GatedRepo", "Access to this repo is restricted")
            token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
            if token not in config.get("tokens", {}):
                return self.error(401, "", "Invalid credentials in Authorization header")
            if repo_id not in config["tokens"][token]:
                return self.error(403, "GatedRepo", "Access to this repo is not granted")
        if revision not in ("main", repo["commit"]):
            return self.error(404, "RevisionNotFound", "Invalid rev id")
        entry = repo["files"].get(file)
        if entry is None:
            return self.error(404, "EntryNotFound", "Entry not found")
        data = entry["content"].encode()
        sha1, sha256 = etags(entry["content"])
        common = [("X-Repo-Commit", repo["commit"])]
        if entry.get("lfs"):
            location = "http://localhost:%d/cdn/%s?signature=abc" % (cdn_port, sha256)
            return self.reply(302, common + [("Location", location),
                                             ("X-Linked-Etag", '"%s"' % sha256),
                                             ("X-Linked-Size", str(len(data))),
                                             ("ETag", '"%s"' % sha1)])
        self.send_file((repo_id, file), data, common + [("ETag", '"%s"' % sha1)])

    def cdn(self):
        want = self.path.split("?")[0].split("/")[-1]
        for repo_id, repo in config["repos"].items():
            for file, entry in repo["files"].items():
                if etags(entry["content"])[1] == want:
                    return self.send_file((repo_id, file), entry["content"].encode(), [])
        self.reply(404)


class CdnHandler(Handler):
    server_name_ = "cdn"


for repo_id, repo in config["repos"].items():
    for file, entry in repo["files"].items():
        interrupts[(repo_id, file)] = entry.get("interrupt", 0)

hub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
cdn = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CdnHandler)
cdn_port = cdn.server_address[1]
for s in (hub, cdn):
    s.daemon_threads = True
    threading.Thread(target=s.serve_forever, daemon=True).start()
print("ready %d %d" % (hub.server_address[1], cdn_port), flush=True)
threading.Event().wait()
