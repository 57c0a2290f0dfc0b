"""Send a note through the env's SMTP relay with the pipeline's own
connection (`shadow_smtp`) to its recipients (`shadow_mail_to`): what
`shadowops compare` uses to mail its verdict. Run by `shadowops-pipeline
mail SUBJECT_B64 BODY_B64` as root (the connection holds the relay's
password, so it is read from the 0640 file, never passed in argv).

    python3 send-mail.py CONNECTIONS_JSON VARIABLES_JSON SUBJECT_B64 BODY_B64
"""

import base64
import json
import smtplib
import ssl
import sys
from email.message import EmailMessage


def main() -> int:
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    conns, variables, subject, body = sys.argv[1:]
    c = json.load(open(conns, encoding="utf-8"))["shadow_smtp"]
    to = json.load(open(variables, encoding="utf-8"))["shadow_mail_to"]
    extra = c.get("extra") or {}
    msg = EmailMessage()
    msg["Subject"] = base64.b64decode(subject).decode("utf-8")
    msg["From"] = extra.get("from_email", "shadowops@localhost")
    msg["To"] = to
    msg.set_content(base64.b64decode(body).decode("utf-8"))
    host, port = c["host"], int(c["port"])
    try:
        with smtplib.SMTP(host, port, timeout=30) as s:
            s.ehlo()
            if not extra.get("disable_tls", True):
                s.starttls(context=ssl.create_default_context())
                s.ehlo()
            if c.get("login"):
                s.login(c["login"], c["password"])
            s.send_message(msg)
    except (OSError, smtplib.SMTPException) as e:
        print(f"SMTP relay {host}:{port}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"sent to {to}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
