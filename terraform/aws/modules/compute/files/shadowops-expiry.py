#!/usr/bin/python3
"""Power the instance off once the env's lease and its grace have run out.

Backstop for when nobody runs `shadowops destroy`: with the instance's
shutdown behaviour set to `terminate`, powering off ends the EC2 bill.
The deadline is the instance's own `backstop_at` tag, which is the lease's
`expires_at` plus `backstop_grace`: the reaper's `destroy` at `expires_at`
goes first, this only catches what it left. It is read through IMDSv2, so
`shadowops extend` moves it by updating tags, with no reboot and no new user
data; the value baked into user data at launch is the fallback when the
metadata service does not answer.
"""
import datetime
import subprocess
import sys
import urllib.request

IMDS = "http://169.254.169.254/latest"
FALLBACK_FILE = "/etc/shadowops/backstop_at"
TAG = "backstop_at"


def fallback():
    with open(FALLBACK_FILE, encoding="ascii") as handle:
        return handle.read().strip()


def tag_expiry():
    try:
        req = urllib.request.Request(
            IMDS + "/api/token",
            method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"},
        )
        token = urllib.request.urlopen(req, timeout=2).read().decode()
        req = urllib.request.Request(
            IMDS + "/meta-data/tags/instance/" + TAG,
            headers={"X-aws-ec2-metadata-token": token},
        )
        return urllib.request.urlopen(req, timeout=2).read().decode().strip()
    except OSError as err:
        print(f"{TAG} tag unreadable ({err}); using {FALLBACK_FILE}", file=sys.stderr)
        return fallback()


def parse(value):
    parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:  # shadowops always writes UTC
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed


def main():
    raw = tag_expiry()
    try:
        deadline = parse(raw)
    except ValueError:
        print(f"{TAG} {raw!r} is not RFC 3339; using {FALLBACK_FILE}", file=sys.stderr)
        deadline = parse(fallback())
    now = datetime.datetime.now(datetime.timezone.utc)
    if now >= deadline:
        print(f"lease and grace ended at {deadline.isoformat()}: powering off", file=sys.stderr)
        subprocess.run(["/usr/sbin/shutdown", "-h", "now", "shadowops lease expired"], check=True)
    else:
        print(f"backstop fires {deadline.isoformat()}, {int((deadline - now).total_seconds())} s left")


if __name__ == "__main__":
    main()
