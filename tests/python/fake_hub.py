"""A local imitation of the Hugging Face Hub for the hf-hub tests.

usage: fake_hub.py <root> <port_file> <log_file> [--token T] [--private ORG/REPO]
                   [--alias OLD/REPO=ORG/REPO] [--cut-once FILE] [--corrupt FILE]

Serves every folder <root>/ORG/REPO as a model repository with one commit
(named by a hash of its files), on two ports of 127.0.0.1: the Hub itself and a
storage server for large files, as huggingface.co and its CDN. What the Hub
sends is what huggingface_hub reads (file_download.py):
  HEAD|GET /ORG/REPO/resolve/REV/FILE
    small files: 200, ETag (git's blob hash), X-Repo-Commit, Content-Length;
    .safetensors/.bin/.pth: 302 to the storage server, X-Linked-Etag (the
      file's SHA-256), X-Linked-Size, X-Repo-Commit;
    a missing file: 404, X-Error-Code EntryNotFound, X-Repo-Commit;
    a missing revision or repository: 404 RevisionNotFound / RepoNotFound;
    a private repository without "Authorization: Bearer T": 401;
    an alias (a renamed repository): 307 to a relative URL of the new name.
  GET /blobs/<sha256> on the storage server: the file, with Range requests
    answered 206; with --cut-once FILE, the first download of FILE promises the
    whole size, sends half and closes the connection; with --corrupt FILE, every
    download of FILE has its first byte changed.
Writes {"hub": port, "storage": port} to <port_file> once both listen; appends
"<port kind> <method> <path> auth=<yes|no> range=<header>" per request to
<log_file>. Stops by itself after 300 seconds."""
import hashlib
import http.server
import json
import os
import sys
import threading
import urllib.parse

root, port_file, log_file = sys.argv[1:4]
options = sys.argv[4:]
token, private, aliases, cut_once, corrupt = None, set(), {}, set(), set()
for flag, value in zip(options[::2], options[1::2]):
    if flag == "--token":
        token = value
    elif flag == "--private":
        private.add(value)
    elif flag == "--alias":
        old, new = value.split("=")
        aliases[old] = new
    elif flag == "--cut-once":
        cut_once.add(value)
    elif flag == "--corrupt":
        corrupt.add(value)
    else:
        sys.exit(f"fake_hub.py: unknown option {flag}")

LARGE = (".safetensors", ".bin", ".pth")
lock = threading.Lock()
blobs = {}  # sha256 -> path


def repo_files(repo):
    folder = os.path.join(root, repo)
    files = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(dirpath, name)
            files[os.path.relpath(path, folder)] = path
    return files


def commit_of(files):
    h = hashlib.sha1()
    for name in sorted(files):
        h.update(name.encode())
        with open(files[name], "rb") as f:
            h.update(hashlib.sha1(f.read()).digest())
    return h.hexdigest()


def git_blob_hash(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    kind = "hub"

    def log(self):
        with lock, open(log_file, "a") as f:
            auth = "yes" if self.headers.get("Authorization") else "no"
            f.write(f"{self.kind} {self.command} {self.path} auth={auth} range={self.headers.get('Range', '')}\n")

    def reply(self, status, headers=(), body=b""):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self.log()
        if self.kind == "storage":
            return self.storage()
        parts = urllib.parse.unquote(self.path).lstrip("/").split("/", 4)
        if len(parts) < 5 or parts[2] != "resolve":
            return self.reply(404, [("X-Error-Code", "RepoNotFound")], b"not found")
        repo, revision, filename = parts[0] + "/" + parts[1], parts[3], parts[4]
        if repo in aliases:
            new = "/" + aliases[repo] + "/resolve/" + "/".join(self.path.split("/")[4:])
            return self.reply(307, [("Location", new)])
        files = repo_files(repo)
        if not files:
            return self.reply(404, [("X-Error-Code", "RepoNotFound")], b"Repository not found")
        if repo in private and self.headers.get("Authorization") != f"Bearer {token}":
            return self.reply(401, [("X-Error-Code", "GatedRepo")], b"Access restricted")
        commit = commit_of(files)
        if revision not in ("main", commit):
            return self.reply(404, [("X-Error-Code", "RevisionNotFound")], b"Revision not found")
        if filename not in files:
            return self.reply(404, [("X-Error-Code", "EntryNotFound"), ("X-Repo-Commit", commit)], b"Entry not found")
        with open(files[filename], "rb") as f:
            data = f.read()
        if filename.endswith(LARGE):
            sha = hashlib.sha256(data).hexdigest()
            with lock:
                blobs[sha] = files[filename]
            location = f"http://127.0.0.1:{storage.server_address[1]}/blobs/{sha}"
            return self.reply(302, [("Location", location), ("X-Repo-Commit", commit),
                                    ("X-Linked-Etag", f'"{sha}"'), ("X-Linked-Size", str(len(data))),
                                    ("ETag", f'"{git_blob_hash(data)}"')])
        self.reply(200, [("ETag", f'"{git_blob_hash(data)}"'), ("X-Repo-Commit", commit),
                         ("Content-Type", "application/octet-stream")], data)

    def storage(self):
        sha = self.path.rsplit("/", 1)[-1]
        with lock:
            path = blobs.get(sha)
        if path is None:
            return self.reply(404, body=b"no such blob")
        with open(path, "rb") as f:
            data = f.read()
        name = os.path.basename(path)
        if name in corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        with lock:
            cut = name in cut_once and self.command == "GET"
            if cut:
                cut_once.discard(name)
        if cut:  # promise everything, send half, hang up
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        start = 0
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= len(data):
                return self.reply(416, [("Content-Range", f"bytes */{len(data)}")])
            return self.reply(206, [("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")], data[start:])
        self.reply(200, [("Content-Type", "application/octet-stream")], data)

    def log_message(self, *args):
        pass


class StorageHandler(Handler):
    kind = "storage"


hub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
storage = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StorageHandler)
for server in (hub, storage):
    threading.Thread(target=server.serve_forever, daemon=True).start()
with open(port_file + ".tmp", "w") as f:
    json.dump({"hub": hub.server_address[1], "storage": storage.server_address[1]}, f)
os.replace(port_file + ".tmp", port_file)  # appears whole, after both sockets listen
threading.Event().wait(300)
