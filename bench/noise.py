"""Realistic receive.log noise and sparse callback records, shared by the benchmarks.

A callback server's receive.log is mostly what else the host prints there: nginx access
lines (the callback URL with ``msg_signature``, an OAuth redirect with ``?auth_code=``,
API and static requests), PHP notices and warnings (some naming ``AuthCode``, the key
the callback script reads whether or not the callback has one) and the IoT platform's
INFO / DEBUG / ERROR lines with the odd stack trace. So the extractor meets its trigger
words, ``GET``, ``INFO`` and ``DEBUG`` in the noise, not only in records.

Not a benchmark itself: ``scan.py``, ``catchup.py`` and ``daemon_cpu.py`` import it.
"""

from __future__ import annotations

import random
from pathlib import Path

SUITE = "dk7f3a9c2b41e05d68"
BLOCK_BYTES = 1024 * 1024
DISTINCT_BLOCKS = 8  # the file repeats these blocks, so generating 1 GB takes seconds

_PATHS = ("/api/v1/devices/{n}/telemetry", "/api/v1/devices/{n}", "/static/app.{n}.js",
          "/health", "/favicon.ico", "/iotp/admin/index.php?page={n}")
_AGENTS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0",
           "curl/8.5.0", "Mozilla/5.0 (Linux; Android 14) wxwork/4.1.22 MicroMessenger/7.0.1",
           "Go-http-client/1.1", "okhttp/4.12.0")
_LEVELS = ("INFO", "INFO", "INFO", "DEBUG", "DEBUG", "WARN", "ERROR")
_NOTICE_KEYS = ("AuthCode", "AuthCode", "SuiteTicket", "State", "ToUserName", "user_id",
                "HTTP_X_REAL_IP")


def _clock(rng: random.Random) -> str:
    return f"17:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"


def _ip(rng: random.Random) -> str:
    return ".".join(str(rng.randint(1, 254)) for _ in range(4))


def access_line(rng: random.Random) -> str:
    """An nginx combined-log line: callback POSTs, OAuth redirects, API and static GETs."""
    pick = rng.random()
    if pick < 0.15:
        request = (f"POST /wxcallback/basic/receive.php?msg_signature={rng.getrandbits(160):040x}"
                   f"&timestamp={1795856400 + rng.randint(0, 86400)}&nonce={rng.getrandbits(32)}")
    elif pick < 0.25:
        request = (f"GET /oauth/callback?auth_code={rng.getrandbits(128):032x}"
                   f"&state=corp-{rng.randint(1, 999)}&expires_in=1200")
    else:
        method = "GET" if rng.random() < 0.85 else "POST"
        request = f"{method} {rng.choice(_PATHS).format(n=rng.getrandbits(20))}"
    status = rng.choice((200, 200, 200, 200, 204, 304, 404, 499, 502))
    return (f'{_ip(rng)} - - [28/Nov/2026:{_clock(rng)} +0800] "{request} HTTP/1.1" {status} '
            f'{rng.randint(0, 9000)} "-" "{rng.choice(_AGENTS)}" rt={rng.random():.3f}')


def php_line(rng: random.Random) -> str:
    """A PHP notice or warning; one in seven names AuthCode (a trigger word, no record)."""
    kind = rng.choice(("Notice", "Notice", "Warning", "Deprecated"))
    if kind == "Notice":
        what = f"Undefined index: {rng.choice(_NOTICE_KEYS)}"
    elif kind == "Warning":
        what = "simplexml_load_string(): Entity: line 1: parser error : Start tag expected"
    else:
        what = "Creation of dynamic property WxCrypt::$token is deprecated"
    return (f"[28-Nov-2026 {_clock(rng)} Asia/Shanghai] PHP {kind}:  {what} in "
            f"/home/docker-nginx/www/wxcallback/basic/receive.php on line {rng.randint(2, 300)}")


def app_lines(rng: random.Random) -> list[str]:
    """One platform log line (INFO / DEBUG / WARN / ERROR); an ERROR may bring a trace."""
    level = rng.choice(_LEVELS)
    stamp = f"2026-11-28 {_clock(rng)},{rng.randint(0, 999):03d}"
    thread = f"pool-{rng.randint(1, 4)}-thread-{rng.randint(1, 32)}"
    if level == "DEBUG":
        body = (f"c.i.p.mapper.DeviceMapper - ==> Preparing: SELECT id, corp_id, status FROM "
                f"device WHERE id = ? -- {rng.getrandbits(32)}")
    elif level == "ERROR":
        body = (f"c.i.p.sync.WecomSync - sync corp ww{rng.getrandbits(64):016x} failed: "
                f"errcode=42001, errmsg=access_token expired")
    else:
        body = (f"c.i.p.DeviceService - device {rng.getrandbits(24)} heartbeat ok "
                f"rssi=-{rng.randint(40, 95)} fw=2.{rng.randint(0, 9)}.{rng.randint(0, 30)}")
    lines = [f"{stamp} {level:5} [{thread}] {body}"]
    if level == "ERROR" and rng.random() < 0.3:
        lines += ["java.lang.IllegalStateException: token expired",
                  "\tat com.iotp.sync.WecomSync.refresh(WecomSync.java:212)",
                  "\tat com.iotp.sync.WecomSync.run(WecomSync.java:88)"]
    return lines


def noise_block(rng: random.Random, size: int = BLOCK_BYTES) -> bytes:
    """About ``size`` bytes of noise: 60 % access lines, 10 % PHP, 30 % platform lines."""
    lines: list[str] = []
    written = 0
    while written < size:
        pick = rng.random()
        batch = ([access_line(rng)] if pick < 0.6 else [php_line(rng)] if pick < 0.7
                 else app_lines(rng))
        for line in batch:
            lines.append(line)
            written += len(line.encode()) + 1
    return ("\n".join(lines) + "\n").encode()


def record(n: int, timestamp: int) -> bytes:
    """One callback record, in turn: multi-line XML ticket, one-line create_auth, a ticket
    JSON-escaped in JSON, and a PHP print_r ticket (as scan.py always had)."""
    ts = timestamp + n
    ticket = f"bench-ticket-{n:08d}"
    form = n % 4
    if form == 0:
        text = (
            f"[2026-11-28 17:00:00] 收到的id: {SUITE}\n<xml>\n"
            f"<SuiteId><![CDATA[{SUITE}]]></SuiteId>\n<InfoType><![CDATA[suite_ticket]]></InfoType>\n"
            f"<TimeStamp>{ts}</TimeStamp>\n<SuiteTicket><![CDATA[{ticket}]]></SuiteTicket>\n</xml>\n"
        )
    elif form == 1:
        text = (
            f"[2026-11-28 17:00:00] 收到的id: {SUITE}\n<xml><SuiteId><![CDATA[{SUITE}]]></SuiteId>"
            f"<AuthCode><![CDATA[bench-code-{n:08d}]]></AuthCode><InfoType><![CDATA[create_auth]]>"
            f"</InfoType><TimeStamp>{ts}</TimeStamp></xml>\n"
        )
    elif form == 2:
        text = (
            f'{{"time":"2026-11-28T17:00:00+08:00","body":"<xml><SuiteId>{SUITE}<\\/SuiteId>\\n'
            f"<InfoType>suite_ticket<\\/InfoType><TimeStamp>{ts}<\\/TimeStamp>"
            f'<SuiteTicket>{ticket}<\\/SuiteTicket><\\/xml>"}}\n'
        )
    else:
        text = (
            f"Array\n(\n    [SuiteId] => {SUITE}\n    [InfoType] => suite_ticket\n"
            f"    [TimeStamp] => {ts}\n    [SuiteTicket] => {ticket}\n)\n"
        )
    return text.encode()


def generate(path: Path, size_mb: int, *, records: int = 300, timestamp: int = 1795856400,
             seed: int = 20261128) -> int:
    """Write a log of about ``size_mb`` MiB with ``records`` records spread evenly through
    it (a few hundred, whatever the size, as on a real server); return the count."""
    rng = random.Random(seed)
    blocks = [noise_block(rng) for _ in range(DISTINCT_BLOCKS)]
    total = max(1, size_mb) * 1024 * 1024
    n_blocks = max(1, total // BLOCK_BYTES)
    written = 0
    with path.open("wb") as handle:
        for index in range(n_blocks):
            handle.write(blocks[index % DISTINCT_BLOCKS])
            # record k goes after block floor((k + 1) * n_blocks / (records + 1))
            while written < records and (written + 1) * n_blocks // (records + 1) <= index:
                handle.write(record(written, timestamp))
                written += 1
        while written < records:
            handle.write(record(written, timestamp))
            written += 1
    return written


def warm(path: Path) -> None:
    """Read the file once so every tool after this reads it from the page cache."""
    with path.open("rb") as handle:
        while handle.read(8 << 20):
            pass
