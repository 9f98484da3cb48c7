"""A local HTTP server for the fetch_weights tests.

usage: http_server.py <root> <port_file> <log_file>
Serves files from <root> on 127.0.0.1 (a free port, written to <port_file>
once it accepts connections), appends each request path to <log_file>, and
for /drop/<anything> promises 100000 bytes, sends 1000 and closes the
connection; /loop/<anything> redirects to itself; /trickle/<anything> sends
2 bytes a second; /endless/<anything> sends a body without a length that
never ends. The last two stop after 60 seconds at most. Stops by itself
after 120 seconds."""
import http.server
import os
import sys
import threading
import time

root, port_file, log_file = sys.argv[1:4]


class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=root, **kwargs)

    def do_GET(self):
        with open(log_file, "a") as f:
            f.write(self.path + "\n")
        if self.path.startswith("/drop/"):
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"x" * 1000)
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path.startswith("/loop/"):
            self.send_response(302)
            self.send_header("Location", self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/trickle/") or self.path.startswith("/endless/"):
            trickle = self.path.startswith("/trickle/")
            self.send_response(200)
            if trickle:
                self.send_header("Content-Length", "50000")
            self.end_headers()
            self.close_connection = True
            deadline = time.time() + 60
            try:
                while time.time() < deadline:
                    self.wfile.write(b"xx" if trickle else b"x" * 65536)
                    self.wfile.flush()
                    if trickle:
                        time.sleep(1)
            except OSError:  # the client gave up: what the tests want
                pass
            return
        super().do_GET()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
timer = threading.Timer(120, server.shutdown)
timer.daemon = True
timer.start()
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.replace(port_file + ".tmp", port_file)  # appears whole, after the socket listens
server.serve_forever()
