#!/usr/bin/env python3
"""The image server of the e2e test bed (what Glance or any web server is in a
real site), stdlib only, inside the test's namespace:
  GET /NAME            the file, with Content-Length (and Range support)
  GET /truncated/NAME  announces the full length but sends half, then closes
                       (a download cut off mid-way)
Every request is appended to ACCESS_LOG as one JSON line, and a second
line (done=true, started, bytes) when its body has been sent.
usage: imgserver.py DIR ADDR PORT ACCESS_LOG"""
import http.server
import json
import os
import re
import sys
import time

ROOT, ADDR, PORT, ACCESS = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self, status, **extra):
        with open(ACCESS, "a") as f:
            f.write(json.dumps({"t": time.time(), "path": self.path, "status": status,
                                "client": self.client_address[0], **extra}) + "\n")

    def do_GET(self):
        truncated = self.path.startswith("/truncated/")
        name = os.path.basename(self.path.split("?")[0])
        path = os.path.join(ROOT, name)
        if self.path == "/" or not name or not os.path.isfile(path):
            self.record(404 if self.path != "/" else 200)
            self.send_response(404 if self.path != "/" else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = os.path.getsize(path)
        start, end = 0, size - 1
        m = re.match(r"bytes=(\d+)-(\d*)$", self.headers.get("Range", ""))
        status = 200
        if m and not truncated:
            start = int(m.group(1))
            end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            status = 206
        self.record(status)
        self.send_response(status)
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Content-Type", "application/octet-stream")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        send = (end - start + 1) // 2 if truncated else end - start + 1
        started, total = time.time(), send
        with open(path, "rb") as f:
            f.seek(start)
            while send > 0:
                chunk = f.read(min(1 << 20, send))
                if not chunk:
                    break
                self.wfile.write(chunk)
                send -= len(chunk)
        # when the client has taken the last byte: what the benchmark times a download by
        self.record(status, done=True, started=started, bytes=total - send)
        if truncated:
            self.close_connection = True


http.server.ThreadingHTTPServer((ADDR, PORT), Handler).serve_forever()
