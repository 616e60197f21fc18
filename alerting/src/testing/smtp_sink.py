"""A real SMTP server for the email tests: aiosmtpd on 127.0.0.1:PORT.

Usage: smtp_sink.py PORT DIR. Each message received is written to
DIR/N.json (envelope, headers, plain and HTML parts decoded); recipients
whose address starts with "reject" are refused with 550. DIR/ready appears
once the server accepts connections.
"""

import email
import email.policy
import json
import os
import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out):
        self.out = out
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        plain = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["subject"]),
            "from": str(msg["from"]),
            "to": str(msg["to"]),
            "content_type": msg.get_content_type(),
            "plain": plain.get_content() if plain is not None else None,
            "html": html.get_content() if html is not None else None,
        }
        self.count += 1
        path = os.path.join(self.out, f"{self.count}.json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.replace(path + ".tmp", path)
        return "250 Message accepted"


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Sink(out), hostname="127.0.0.1", port=port)
    controller.start()
    open(os.path.join(out, "ready"), "w").close()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
