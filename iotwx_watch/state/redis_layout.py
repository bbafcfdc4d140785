"""Where the shared state lives in Redis, the Lua scripts that change it atomically, and
how the replies read.

Every key starts with the deployment's prefix (``[redis] prefix``), so deployments can
share a Redis. ``P`` below is the prefix; ``S`` is ``P:s:<suite_id>``; ``part`` and
``Counted`` are :mod:`iotwx_watch.state.parts`.

=========================== ======== ====================================================
key                         type     holds
=========================== ======== ====================================================
``P:layout``                string   ``1``: this layout (another value is refused)
``P:rev``                   counter  +1 on every write: a reader re-reads only on change
``P:updated_at``            string   the document's ``updated_at``
``P:rest``                  string   the document's rest (schema_version, unknown keys, …)
``P:suites``                set      the suite ids
``S:rest``                  string   the suite's rest (last_error, pending_cancels, …)
``S:one:<field>``           hash     ``blob``; for the ticket also ``ts``, ``vh`` (a hash of
                                     the value) and ``rejected``; for the token ``vh``
``S:c:<field>`` / ``P:c:…`` hash     entry key → blob (corps, auth_codes, blocked_ips, …)
``…:c:<field>:v``           hash     entry key → version, +1 on every write of the entry
``S:c:auth_codes:claims``   hash     code key → ``instance<TAB>lease_until`` while redeeming
``P:c:<counted>:n:<key>``   hash     ``count``, ``low:<field>``, ``high:<field>``,
                                     ``set:<member>``: the merged sightings of one entry
``S:lock:token``            string   the instance refreshing the suite token (expires)
=========================== ======== ====================================================

The fencing token of a claim is the entry's version: the claim is accepted only at the
version this instance last read (so only while the entry is ``pending`` and nobody else
wrote it), and every later write of the entry needs the version the writer last saw, so
an instance that stalled past its lease cannot overwrite what another instance recorded
after it took the claim over. (A corp is the one entry written again over a refusal, when
this instance holds a Secret obtained later than Redis' one: ``parts.keeps_mine``.)
"""

from __future__ import annotations

from typing import Any, NamedTuple

from iotwx_watch.state.parts import Part, Tally

LAYOUT = "1"


class Keys:
    """The key names under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.layout = f"{prefix}:layout"
        self.rev = f"{prefix}:rev"
        self.updated_at = f"{prefix}:updated_at"
        self.suites = f"{prefix}:suites"

    def scope(self, suite_id: str) -> str:
        return f"{self.prefix}:s:{suite_id}" if suite_id else self.prefix

    def of(self, part: Part) -> str:
        """The key holding a rest or a single entry, or the hash holding an entry."""
        scope = self.scope(part.suite)
        if part.kind == "rest":
            return f"{scope}:rest"
        if part.kind == "one":
            return f"{scope}:one:{part.field}"
        return f"{scope}:c:{part.field}"

    def versions(self, part: Part) -> str:
        return f"{self.of(part)}:v"

    def claims(self, part: Part) -> str:
        return f"{self.of(part)}:claims"

    def tally(self, part: Part) -> str:
        return f"{self.of(part)}:n:{part.key}"

    def token_lock(self, suite_id: str) -> str:
        return f"{self.scope(suite_id)}:lock:token"

    def pattern(self) -> str:
        """Every key of the deployment (for `state migrate --replace`)."""
        return f"{self.prefix}:*"


# Each write runs in a MULTI with an INCR of ``P:rev`` after it (the scripts do not touch it).

# KEYS: entries hash, versions hash, claims hash.
# ARGV: entry key, version the writer last saw, blob ('' deletes), claim ('' clears it,
# '-' leaves it as it is).
# Returns {1, new version} or {0, version, blob, claim}: the store's, for the writer to adopt.
CAS_ENTRY = """
local v = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if v ~= tonumber(ARGV[2]) then
  return {0, v, redis.call('HGET', KEYS[1], ARGV[1]), redis.call('HGET', KEYS[3], ARGV[1])}
end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1])
else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
if ARGV[4] == '' then redis.call('HDEL', KEYS[3], ARGV[1])
elseif ARGV[4] ~= '-' then redis.call('HSET', KEYS[3], ARGV[1], ARGV[4]) end
redis.call('HSET', KEYS[2], ARGV[1], v + 1)
return {1, v + 1}
"""

# KEYS: entries hash, tally hash of the entry.
# ARGV: entry key, blob ('' deletes), count delta, n low, n high, then n low and n high
# (field, ISO time) pairs, then union members. Returns the tally hash after the merge.
MERGE_COUNTED = """
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[2])
  return {}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[2], 'count', ARGV[3])
local i = 6
for n = 1, tonumber(ARGV[4]) + tonumber(ARGV[5]) do
  local side = n <= tonumber(ARGV[4]) and 'low:' or 'high:'
  local name, value = side .. ARGV[i], ARGV[i + 1]
  local current = redis.call('HGET', KEYS[2], name)
  if not current or (side == 'low:' and value < current)
      or (side == 'high:' and value > current) then
    redis.call('HSET', KEYS[2], name, value)
  end
  i = i + 2
end
while i <= #ARGV do
  redis.call('HSET', KEYS[2], 'set:' .. ARGV[i], '1')
  i = i + 1
end
return redis.call('HGETALL', KEYS[2])
"""

# KEYS: ticket hash. ARGV: blob, TimeStamp, value hash, rejected ('1' or '0').
# The newest TimeStamp wins (an equal one too: the later push); a ticket WeCom rejected
# gives way to any other; the same ticket only gains ``rejected``. Returns {1} or {0, blob}.
PUT_TICKET = """
local cur = redis.call('HMGET', KEYS[1], 'vh', 'ts', 'rejected', 'blob')
local take
if not cur[1] then take = true
elseif cur[1] == ARGV[3] then take = ARGV[4] == '1' and cur[3] ~= '1'
elseif cur[3] == '1' then take = true
else take = tonumber(ARGV[2]) >= tonumber(cur[2]) end
if not take then return {0, cur[4]} end
redis.call('HSET', KEYS[1], 'blob', ARGV[1], 'ts', ARGV[2], 'vh', ARGV[3], 'rejected', ARGV[4])
return {1}
"""

# KEYS: token hash. ARGV: blob ('' forgets it), value hash, value hash the writer
# last saw. A token is forgotten only if it is still the one the writer called invalid.
PUT_TOKEN = """
local cur = redis.call('HGET', KEYS[1], 'vh')
if ARGV[1] == '' then
  if cur and cur ~= ARGV[3] then return {0, redis.call('HGET', KEYS[1], 'blob')} end
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'blob', ARGV[1], 'vh', ARGV[2])
end
return {1}
"""

# KEYS: lock. ARGV: the holder's token. Deletes the lock only if it is still ours.
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


# -- replies -------------------------------------------------------------------------------


class Read(NamedTuple):
    """One part as read: its blob and, for an entry, its version and claim."""

    blob: bytes
    version: int = 0
    claim: tuple[str, float] | None = None


def parse_replies(queued: list[Part], replies: list[Any]) -> dict[Part, Read]:
    """Replies in queue order → every part that is there, with its version and claim."""
    found: dict[Part, Read] = {}
    it = iter(replies)
    for part in queued:
        if part.kind != "entry":
            blob = next(it)
            if blob is not None:
                found[part] = Read(blob)
            continue
        blobs, versions, claims = next(it), next(it), next(it)
        for raw_key, blob in blobs.items():
            found[part._replace(key=raw_key.decode())] = Read(
                blob, int(versions.get(raw_key, 0)), claim_of(claims.get(raw_key)))
    return found


def claim_of(raw: bytes | None) -> tuple[str, float] | None:
    """``instance<TAB>lease_until`` → (instance, lease_until)."""
    if raw is None:
        return None
    holder, _, lease = raw.decode().partition("\t")
    return holder, float(lease or 0)


def tally_from(reply: dict[bytes, bytes]) -> Tally:
    """A tally hash as Redis returns it."""
    count, low, high, members = 0, {}, {}, set()
    for raw_name, raw_value in reply.items():
        name, value = raw_name.decode(), raw_value.decode()
        if name == "count":
            count = int(value)
        elif name.startswith("low:"):
            low[name[4:]] = value
        elif name.startswith("high:"):
            high[name[5:]] = value
        elif name.startswith("set:"):
            members.add(name[4:])
    return Tally(count, low, high, frozenset(members))


def pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    """``HGETALL`` as a Lua script returns it (a flat list) → a dict."""
    return dict(zip(flat[0::2], flat[1::2], strict=True))
