"""A local stand-in for Twilio's Messages API: what the platform's Twilio backend speaks, so the
real code path runs on a machine without the internet. It keeps every message it accepts in
``messages.jsonl`` in the directory given and lists them as Twilio does.

    python -m iotplatform.devservers.sms_gateway --port 8026 --dir .logs/sms \\
        --account-sid AC… --auth-token …

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP basic auth (the account SID
and auth token), form fields ``To``, ``From`` (or ``MessagingServiceSid``) and ``Body``: 201 and
the message resource (``sid`` SM…, ``status`` queued), or Twilio's error body (``code``,
``message``, ``more_info``, ``status``) with its status: 401/20003 for bad credentials,
400/21604, 21211, 21603, 21602 and 21617 for a missing or bad To, From or Body.
``GET`` on the same path lists the messages, newest first.
"""

import argparse
import base64
import contextlib
import json
import re
import secrets
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-fA-F]{32})/Messages\.json$")
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
MAX_BODY = 1600


def error(code: int, message: str, status: int) -> tuple[int, dict[str, Any]]:
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class Gateway:
    def __init__(self, directory: Path, sid: str, token: str) -> None:
        self.directory, self.sid, self.token = directory, sid, token
        self.lock = threading.Lock()
        self.log = directory / "messages.jsonl"

    def authorised(self, header: str | None, sid: str) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == sid == self.sid and secrets.compare_digest(password, self.token)

    def create(self, sid: str, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        field = {k: v[0] for k, v in form.items() if v}
        to, body = field.get("To", ""), field.get("Body", "")
        origin, service = field.get("From", ""), field.get("MessagingServiceSid", "")
        if not to:
            return error(21604, "A 'To' phone number is required.", 400)
        if not E164.match(to):
            return error(21211, f"Invalid 'To' Phone Number: {to}", 400)
        if not origin and not service:
            return error(21603, "A 'From' phone number is required.", 400)
        if not body:
            return error(21602, "Message body is required.", 400)
        if len(body) > MAX_BODY:
            return error(
                21617, "The concatenated message body exceeds the 1600 character limit.", 400
            )
        now = formatdate(usegmt=True)
        msid = "SM" + secrets.token_hex(16)
        resource = {
            "account_sid": sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": origin or None,
            "messaging_service_sid": service or None,
            "num_media": "0",
            "num_segments": str(1 + (len(body) - 1) // 153 if len(body) > 160 else 1),
            "price": None,
            "price_unit": "USD",
            "sid": msid,
            "status": "queued",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{sid}/Messages/{msid}/Media.json"},
            "to": to,
            "uri": f"/2010-04-01/Accounts/{sid}/Messages/{msid}.json",
        }
        with self.lock, self.log.open("a") as out:
            out.write(json.dumps(resource) + "\n")
        return 201, resource

    def list(self, sid: str) -> dict[str, Any]:
        rows = self.log.read_text().splitlines() if self.log.exists() else []
        messages = [json.loads(r) for r in reversed(rows)]
        return {
            "messages": [m for m in messages if m["account_sid"] == sid][:50],
            "page": 0,
            "page_size": 50,
            "uri": f"/2010-04-01/Accounts/{sid}/Messages.json?PageSize=50&Page=0",
            "first_page_uri": f"/2010-04-01/Accounts/{sid}/Messages.json?PageSize=50&Page=0",
            "next_page_uri": None,
            "previous_page_uri": None,
            "start": 0,
            "end": 49,
        }


def handler(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, data: dict[str, Any]) -> None:
            body = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _account(self) -> str | None:
            match = PATH.match(self.path.split("?")[0])
            if not match:
                self._reply(*error(20404, "The requested resource was not found", 404))
                return None
            sid = match["sid"]
            if not gateway.authorised(self.headers.get("Authorization"), sid):
                self._reply(*error(20003, "Authenticate", 401))
                return None
            return sid

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode(errors="replace")
            sid = self._account()
            if sid is not None:
                self._reply(*gateway.create(sid, parse_qs(raw, keep_blank_values=True)))

        def do_GET(self) -> None:
            sid = self._account()
            if sid is not None:
                self._reply(200, gateway.list(sid))

        def log_message(self, format: str, *args: Any) -> None:
            print(f"sms gateway: {format % args}", flush=True)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8026)
    parser.add_argument("--dir", type=Path, default=Path(".logs/sms"))
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(
        (args.host, args.port), handler(Gateway(args.dir, args.account_sid, args.auth_token))
    )
    print(f"sms gateway on {args.host}:{args.port}, keeping messages in {args.dir}/", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
