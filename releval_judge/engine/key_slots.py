"""The concurrency budget of a provider key, shared by every run and every replica.

A judge's ``concurrency`` bounds the calls in flight of one run; its ``key_concurrency``
bounds the calls in flight on its provider key, counted over every run of every replica on
one database (a provider's "N concurrent requests per key"). The key's budget is a row per
slot in PostgreSQL (``store/key_slots.sql``), claimed like a run lease: holder, an epoch
bumped on every claim, an expiry renewed by the holder. A slot is never inferred from
counting rows of running calls, which two replicas could pass at the same moment.

Within a process, one :class:`KeySlotPool` per key and limit holds what this replica has
claimed, so that a call costs no database round trip while the replica keeps calling:

- a call takes a held, idle slot, else waits while the pool's task claims as many slots as
  there are waiters in one statement, and asks again every ``POLL_S`` while the key is full;
- a slot a call gives back goes to the next waiter of this process, unless it was claimed
  more than ``ROTATE_S`` ago: then it goes back to the database, so that replicas with work
  take turns at a full key instead of the first one keeping every slot; a slot nobody here
  wants for ``IDLE_S`` goes back too;
- turns are kept by the database, not by who asks first: a claim that comes back short
  records the replica's interest (``provider_key_waiters``: how many it still wants, since
  when it has waited), renewed by each of its claims for ``INTEREST_S``, and every claim
  leaves free as many slots as the replicas that have waited longer still want. So a
  replica giving back a slot may claim again at once (alone on the key, it loses nothing),
  yet when another waited longer the slot is the other's, however late its next poll comes
  within ``INTEREST_S``; an interest ends when the replica got all it wanted, when nobody of
  it waits any more, or, for a replica that died waiting, after ``INTEREST_S``;
- the pool's task renews every slot it holds each ``ttl / 3``; a slot not renewed for two
  thirds of its time is used no more (its call may finish), so that no call starts on a
  slot another replica may already hold. A dead replica's slots free themselves after the
  lease time, a stopped one gives them back (:meth:`KeySlots.close`).

Slots ``0 .. key_concurrency - 1`` are the key's: judges on one key that give different
limits share the lower slots, so the key never has more calls in flight than the largest
limit, and each judge's calls never more than its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from dataclasses import dataclass

import structlog

from releval_judge.engine.pacing import Halted, first_of
from releval_judge.store.key_slots import KeySlotStore, SlotClaim

log = structlog.get_logger(__name__)

# While the key is full, ask the database again this often (jittered by ±50%).
POLL_S = 0.05
# A slot held this long goes back to the database when its call ends, for other replicas.
ROTATE_S = 2.0
# A replica's recorded interest in a full key lives this long after its last claim: far
# beyond the longest poll interval, so that a waiting replica keeps its turn even when its
# polls come late; a replica that died waiting holds free slots back no longer than this.
INTEREST_S = 20 * POLL_S
# A slot no call of this process wanted for this long goes back to the database.
IDLE_S = 0.2
# After a failed statement, try again after this long.
RETRY_S = 0.5


@dataclass(eq=False)
class HeldSlot:
    claim: SlotClaim
    claimed_at: float
    renewed_at: float
    idle_since: float | None = None
    lost: bool = False


def _poll_s() -> float:
    return POLL_S * random.uniform(0.5, 1.5)


class KeySlotPool:
    """The slots of one provider key (below one limit) that this replica holds."""

    def __init__(
        self, store: KeySlotStore, key_id: str, limit: int, *, holder: str, ttl_s: float
    ) -> None:
        self.store = store
        self.key_id = key_id
        self.limit = limit
        self.holder = holder
        self.ttl_s = ttl_s
        self._held: set[HeldSlot] = set()
        self._idle: deque[HeldSlot] = deque()
        self._waiters: deque[asyncio.Future[HeldSlot]] = deque()
        self._returns: list[SlotClaim] = []
        self._kick = asyncio.Event()
        self._seeded = False
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._last_renewal = asyncio.get_running_loop().time()
        self._next_claim_at = 0.0
        # The last claim came back short: the database holds this replica's interest.
        self._interested = False

    def _usable(self, slot: HeldSlot, now: float) -> bool:
        return not slot.lost and now - slot.renewed_at < self.ttl_s * 2 / 3

    async def acquire(self, *, stop: asyncio.Event | None = None) -> HeldSlot:
        """A slot of the key for one call; `Halted` (nothing held) when `stop` is set
        before one is free."""
        if stop is not None and stop.is_set():
            raise Halted
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._idle:
            slot = self._idle.popleft()
            slot.idle_since = None
            if self._usable(slot, now):
                return slot
            self._drop(slot)
        self._ensure_task()
        waiter: asyncio.Future[HeldSlot] = loop.create_future()
        self._waiters.append(waiter)
        self._kick.set()
        try:
            if stop is not None:
                await first_of(waiter, stop)
                if stop.is_set():
                    raise Halted
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release(waiter.result())  # granted as we gave up: pass it on
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def release(self, slot: HeldSlot) -> None:
        """The call on `slot` has ended."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not self._usable(slot, now):
            self._drop(slot)
            return
        if now - slot.claimed_at >= ROTATE_S:
            self._give_back(slot)
            return
        if self._hand_over(slot):
            return
        slot.idle_since = now
        self._idle.append(slot)
        self._kick.set()  # the pool's task gives it back if it stays idle

    def _hand_over(self, slot: HeldSlot) -> bool:
        """Give `slot` to the longest waiter; False when nobody waits."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(slot)
                return True
        return False

    def _drop(self, slot: HeldSlot) -> None:
        """Use `slot` no more; free it in the database if it is still ours there."""
        if slot in self._held and not slot.lost:
            self._give_back(slot)

    def _give_back(self, slot: HeldSlot) -> None:
        self._held.discard(slot)
        self._returns.append(slot.claim)
        self._kick.set()

    def _ensure_task(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._serve(), name=f"key-slots-{self.key_id[:8]}")

    # --- the pool's task -------------------------------------------------------------------

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed:
            try:
                timeout = await self._step(loop.time())
            except Exception as exc:  # a lost database: waiters wait, slots age out
                log.warning("key_slots_failed", key=self.key_id[:8], error=str(exc))
                timeout = RETRY_S
            self._kick.clear()
            if timeout is None:
                await self._kick.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._kick.wait(), timeout)

    async def _step(self, now: float) -> float | None:
        """One round: give back, renew, claim. How long until the next round is due (None:
        when something changes)."""
        while self._idle and self._idle[0].idle_since is not None:
            if now - self._idle[0].idle_since < IDLE_S:
                break
            self._give_back(self._idle.popleft())
        if self._returns:
            returns, self._returns = self._returns, []
            try:
                await self.store.release(self.holder, returns)
            except BaseException:
                self._returns = returns + self._returns
                raise
        if self._held and now - self._last_renewal >= self.ttl_s / 3:
            await self._renew()
        self._waiters = deque(w for w in self._waiters if not w.done())
        if self._waiters and now >= self._next_claim_at:
            # At once, also right after a give-back: the claim leaves the slots to the
            # replicas that have waited longer.
            await self._claim()
            # Still waiters: the key is full; ask again soon.
            self._next_claim_at = now + _poll_s() if self._waiters else now
        elif not self._waiters and self._interested:
            await self.store.withdraw(self.key_id, self.holder)
            self._interested = False
        due: list[float] = []
        if self._held:
            due.append(self._last_renewal + self.ttl_s / 3 - now)
        if self._idle and self._idle[0].idle_since is not None:
            due.append(self._idle[0].idle_since + IDLE_S - now)
        if self._waiters:
            due.append(self._next_claim_at - now)
        return max(min(due), 0.0) if due else None

    async def _claim(self) -> None:
        if not self._seeded:
            await self.store.seed(self.key_id, self.limit)
            self._seeded = True
        loop = asyncio.get_running_loop()
        sent = loop.time()
        wanted = len(self._waiters)
        claims = await self.store.claim(
            self.key_id,
            limit=self.limit,
            holder=self.holder,
            wanted=wanted,
            ttl_s=self.ttl_s,
            interest_s=INTEREST_S,
        )
        self._interested = len(claims) < wanted
        for claim in claims:
            slot = HeldSlot(claim, claimed_at=sent, renewed_at=sent)
            self._held.add(slot)
            if self._closed:
                self._give_back(slot)
            elif not self._hand_over(slot):
                slot.idle_since = sent
                self._idle.append(slot)

    async def _renew(self) -> None:
        loop = asyncio.get_running_loop()
        sent = loop.time()
        held = list(self._held)
        async with asyncio.timeout(self.ttl_s / 6):
            kept = await self.store.renew(self.holder, [s.claim for s in held], ttl_s=self.ttl_s)
        self._last_renewal = sent
        for slot in held:
            if (slot.claim.key_id, slot.claim.slot) in kept:
                slot.renewed_at = sent
            else:
                slot.lost = True
                self._held.discard(slot)
                log.warning("key_slot_lost", key=self.key_id[:8], slot=slot.claim.slot)
        self._idle = deque(s for s in self._idle if not s.lost)

    async def close(self) -> None:
        """Refuse every waiter and give back every slot held (calls in flight are over)."""
        self._closed = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(Halted())
        self._waiters.clear()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        claims = self._returns + [s.claim for s in self._held]
        self._returns = []
        self._held.clear()
        self._idle.clear()
        await self.store.release(self.holder, claims)
        if self._interested:
            await self.store.withdraw(self.key_id, self.holder)
            self._interested = False


class KeySlots:
    """This replica's key pools, one per (key, limit), created on first use."""

    def __init__(self, store: KeySlotStore, *, holder: str, ttl_s: float) -> None:
        self.store = store
        self.holder = holder
        self.ttl_s = ttl_s
        self._pools: dict[tuple[str, int], KeySlotPool] = {}

    def pool(self, key_id: str, limit: int) -> KeySlotPool:
        found = self._pools.get((key_id, limit))
        if found is None:
            found = KeySlotPool(self.store, key_id, limit, holder=self.holder, ttl_s=self.ttl_s)
            self._pools[(key_id, limit)] = found
        return found

    async def begin(self) -> None:
        """Free the slots a previous process under this replica's name left held."""
        await self.store.release_all(self.holder)

    async def close(self) -> None:
        for pool in self._pools.values():
            try:
                await pool.close()
            except Exception as exc:  # they expire by themselves within the lease time
                log.warning("key_slots_not_released", key=pool.key_id[:8], error=str(exc))
