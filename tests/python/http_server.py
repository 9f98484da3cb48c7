"""A local HTTP server for the fetch_weights tests.

usage: http_server.py <root> <port_file> <log_file>
Serves files from <root> on 127.0.0.1 (a free port, written to <port_file>
once it accepts connections), appends each request path to <log_file>, and
for /drop/<anything> promises 100000 bytes, sends 1000 and closes the
connection. Stops by itself after 120 seconds."""
import http.server
import os
import sys
import threading

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
