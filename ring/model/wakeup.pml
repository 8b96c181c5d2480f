/*
 * The fdring wakeup protocol (ring/ring.go and the fdring sides above it),
 * for the spin model checker, on x86-TSO memory.
 *
 * What is modelled
 *
 *   One producer and one consumer thread, each with a store buffer; shared
 *   memory holding the CAP element slots, the two indices (tail, head) and
 *   the two state words (txState, rxState: 0 running, 1 waiting, 2 closed);
 *   the two wakeup fds as "readable" flags (a signal sets it, a sleep blocks
 *   until it is set and clears it).
 *
 *   Store buffers (x86-TSO). A plain store (an element, or an index published
 *   with a release store, a plain MOV on amd64) goes into the storing
 *   thread's FIFO buffer; a drainer process per buffer moves the oldest entry
 *   to shared memory at any later point, so stores become visible in program
 *   order but late. Loads read shared memory. A thread never reads its own
 *   index back (the implementation keeps it privately) and never reads the
 *   slots it writes, so store-to-load forwarding never applies. A locked
 *   instruction (CAS, swap, XCHG) drains the thread's own buffer first and
 *   then acts on shared memory: a full fence. Both buffers hold 2*CAP
 *   entries, which no run can fill (at most CAP elements and CAP index
 *   stores can be in flight), so the bound restricts nothing.
 *
 *   Fast path (both sides, symmetric). Write the elements (buffered), publish
 *   the own index (buffered), load the peer's state word; if it is 1, CAS
 *   1->0 and on success signal the peer's fd. On x86 the state load may be
 *   satisfied while the index store still sits in the buffer: that is the
 *   store->load reordering the protocol has to survive.
 *
 *   Sleeping (slow path). A side that found the ring empty (consumer) or
 *   full (producer) declares with CAS 0->1 (a full fence on its own CPU),
 *   then calls membarrier(2), modelled as one atomic step that drains the
 *   PEER's store buffer ("every peer thread executed a full fence"), then
 *   re-loads the peer's index and state: data/space or a closed peer means
 *   undo (CAS 1->0; if the peer won that CAS its signal is on its way and
 *   the next sleep returns at once) and do not sleep; otherwise sleep on the
 *   fd until signalled. If the CAS finds 1 already (a declaration whose
 *   signal a previous sleep consumed early, and which still stands) the side
 *   re-checks without membarrier: the state has been 1 since the earlier
 *   fenced declaration, so every later publish of the peer loads 1 and
 *   signals. (A membarrier there too would only remove behaviours: it is one
 *   of the orders the drainer may already choose.)
 *
 *   Close. A side swaps its own state word to 2 (a full fence: the buffer
 *   drains first, so its final index is visible), then loads the peer's
 *   state and signals it if it waits (CAS 1->0). Each side may instead stop
 *   for good without closing ("idle": a caller that simply stops calling
 *   Send or Recv), after any number of elements.
 *
 *   Abstractions. A side reloads the peer's index on every attempt; the
 *   implementation's cached copy is an older value of a monotonic index and
 *   is reloaded before the side declares, so it decides "room" no more often
 *   than the model. An eventfd is a flag (two signals before a sleep are one
 *   readiness). Not modelled: state values outside {0,1,2} (corruption: the
 *   side stops with an error), PeerGone, spinning before sleep (only delays
 *   the declaration). The state-space bound (CAP 2, N 5: the producer fills
 *   and wraps the ring twice, every branch of both sides is reached; spin
 *   reports no unreached statement) keeps a full search well under a
 *   second.
 *
 * What is checked
 *
 *   - No lost wakeup. The Watchdog runs when nothing else in the system can
 *     move (timeout: both buffers drained, each side terminated, idle or
 *     asleep) and asserts that no side sleeps although it has work: the
 *     consumer asleep while tail != head or the producer closed, or the
 *     producer asleep while there is space or the consumer closed. Sleeping
 *     forever with no work is a valid end state (labelled end_*).
 *   - Every element delivered exactly once and in order: element i is
 *     written as i+1 (0 means never written), the consumer asserts that the
 *     slot it reads holds exactly the next expected element.
 *   - Close: a consumer that saw the producer closed drains the rest and
 *     stops, and the Watchdog asserts that it then had received everything
 *     the producer published (tail == head once the buffers drained: the
 *     closing swap must have made the final tail visible); a producer that
 *     saw the consumer closed stops; a side that closes signals a sleeping
 *     peer (else the Watchdog finds that peer asleep with a closed peer).
 *   - No invalid end state (a process stuck outside an end label) and no
 *     failed assertion anywhere.
 *
 * Variants (-D flags to spin -a; TestWakeupModel runs each)
 *
 *   (none)          the protocol: release stores + membarrier. Must pass.
 *   -DSC            the fallback where membarrier is unavailable: indices
 *                   published with a sequentially consistent store (XCHG:
 *                   drain the buffer, store to memory), no membarrier. Must
 *                   pass: the publish is a full fence, so the store->load
 *                   pairing with the sleeper's CAS is sequentially consistent.
 *   -DNO_MEMBARRIER release stores without the sleeper's membarrier. Must
 *                   FAIL with a lost wakeup: the producer publishes tail
 *                   (still buffered) and loads rxState == 0; the consumer
 *                   declares 1 and re-checks, reading the old tail from
 *                   memory, and sleeps. Both checks passed, nobody signals,
 *                   and once the buffer drains the data sits there while the
 *                   consumer sleeps (the producer idles, or waits for space
 *                   and sleeps too). Store(tail)->Load(rxState) and
 *                   CAS(rxState)->Load(tail) is the store-buffering litmus
 *                   test; only a fence on BOTH sides forbids its outcome, and
 *                   membarrier puts the producer's fence there on demand.
 *   -DNO_RECHECK    the sleeper declares (and fences) but sleeps without
 *                   re-loading the peer's index. Must FAIL with a lost
 *                   wakeup: the peer published and loaded the state word
 *                   before the declaration, so it saw 0 and will not signal.
 *   -DSC -DNO_RECHECK  the same omission under the fallback. Must FAIL.
 *
 *   spin -a [-DSC] [-DNO_MEMBARRIER] [-DNO_RECHECK] wakeup.pml &&
 *   cc -O1 -o pan pan.c && ./pan -m100000 -w20
 *   (after an error: spin -t -p -g [the same -D flags] wakeup.pml)
 */

#define CAP 2        /* ring capacity */
#define N   5        /* elements the producer sends at most: N > CAP, so it wraps and fills */
#define SB  (2*CAP)  /* store buffer entries per thread */

/* Shared memory: slots 0..CAP-1, then the indices (stores go through the
 * buffers, addressed by these numbers). The state words are only written by
 * locked instructions, which act on memory directly. */
#define TAIL CAP
#define HEAD (CAP+1)
byte mem[CAP+2];
#define tail mem[TAIL]
#define head mem[HEAD]

byte rxState = 0;    /* consumer's state word */
byte txState = 0;    /* producer's state word */
bool dataFd = 0;     /* the consumer's wakeup fd is readable */
bool spaceFd = 0;    /* the producer's wakeup fd is readable */
bool rxAsleep = 0;   /* ghost: the consumer blocks in its sleep */
bool txAsleep = 0;   /* ghost: the producer blocks in its sleep */
bool rxDone = 0;     /* ghost: the consumer saw the producer closed and drained */

chan psb = [SB] of { byte, byte };   /* producer's store buffer: address, value */
chan csb = [SB] of { byte, byte };   /* consumer's store buffer */

hidden byte sa, sv;  /* scratch for draining, used only inside atomic steps */

/* Move every entry of a store buffer to memory, oldest first. */
inline drain(sb) {
	do
	:: sb?sa,sv -> mem[sa] = sv
	:: empty(sb) -> break
	od
}

/* A plain store: into the own buffer. */
inline store(sb, addr, val) {
	sb!addr,val
}

/* Publishing the own index: a release store (buffered), or in the fallback
 * an XCHG (drain, then store to memory). */
inline publish(sb, addr, val) {
#ifdef SC
	atomic { drain(sb); mem[addr] = val }
#else
	sb!addr,val
#endif
}

/* LOCK CMPXCHG: drain the own buffer, then compare-and-swap on memory. */
inline cas(sb, v, old, new, ok) {
	atomic { drain(sb); if :: v == old -> v = new; ok = 1 :: else -> ok = 0 fi }
}

/* Declare "I sleep": CAS 0->1. ok = 0 means the state was already 1 (a
 * declaration that still stands, see the top comment); nothing else can be
 * there, only the owner closes and then stops. */
inline declare(sb, v, ok) {
	atomic { drain(sb); if :: v == 0 -> v = 1; ok = 1 :: else -> assert(v == 1); ok = 0 fi }
}

/* membarrier(2): every peer thread executes a full fence, i.e. the peer's
 * store buffer drains, before the call returns. */
inline membarrier(peersb) {
#if !defined(SC) && !defined(NO_MEMBARRIER)
	atomic { drain(peersb) }
#else
	skip
#endif
}

/* After publishing (or closing), load the peer's state word; signal only if
 * it declared it sleeps, and only once (the CAS claims the wakeup). */
inline wakeConsumer(ok) {
	if
	:: rxState == 1 -> cas(psb, rxState, 1, 0, ok); if :: ok -> dataFd = 1 :: else -> skip fi
	:: else -> skip
	fi
}
inline wakeProducer(ok) {
	if
	:: txState == 1 -> cas(csb, txState, 1, 0, ok); if :: ok -> spaceFd = 1 :: else -> skip fi
	:: else -> skip
	fi
}

active proctype Producer() {
	byte next = 0;   /* private tail */
	byte h;
	bool ok;
	do
	:: rxState == 2 -> goto close           /* the receiver closed: stop */
	:: goto stop                            /* the caller stops sending, any time */
	:: next < N ->
		h = head;                           /* (re)load the peer's index */
		if
		:: next - h < CAP ->
			store(psb, next % CAP, next + 1);   /* fill (element next is next+1) */
			next++;
			publish(psb, TAIL, next);
			wakeConsumer(ok)
		:: else ->                          /* full: declare, fence the peer, re-check, sleep */
			declare(psb, txState, ok);
			if :: ok -> membarrier(csb) :: else -> skip fi;
#ifndef NO_RECHECK
			h = head;
			if
			:: next - h < CAP || rxState == 2 ->
				cas(psb, txState, 1, 0, ok)  /* undo; a lost CAS means a signal is on its way */
			:: else ->
				txAsleep = 1;
end_txsleep:	atomic { spaceFd -> spaceFd = 0; txAsleep = 0 }
			fi
#else
			txAsleep = 1;
end_txsleep:	atomic { spaceFd -> spaceFd = 0; txAsleep = 0 }
#endif
		fi
	od;
stop:
	if
	:: skip                                 /* close */
	:: goto idle                            /* or just stop, for good */
	fi;
close:
	atomic { drain(psb); txState = 2 };     /* swap: a full fence, then closed */
	wakeConsumer(ok);
idle:
	skip
}

active proctype Consumer() {
	byte expect = 0; /* private head: the next element to read */
	byte t, st;
	bool ok;
	do
	:: goto stop                            /* the caller stops receiving, any time */
	:: t = tail;
		if
		:: t != expect ->
			assert(mem[expect % CAP] == expect + 1);  /* in order, nothing lost or repeated */
			expect++;
			publish(csb, HEAD, expect);
			wakeProducer(ok)
		:: else ->
			st = txState;
			if
			:: st == 2 ->
				t = tail;                   /* closed: its swap drained the final tail */
				if :: t == expect -> goto done :: else -> skip fi
			:: else ->
				declare(csb, rxState, ok);
				if :: ok -> membarrier(psb) :: else -> skip fi;
#ifndef NO_RECHECK
				t = tail;
				st = txState;
				if
				:: t != expect || st == 2 ->
					cas(csb, rxState, 1, 0, ok) /* undo */
				:: else ->
					rxAsleep = 1;
end_rxsleep:		atomic { dataFd -> dataFd = 0; rxAsleep = 0 }
				fi
#else
				rxAsleep = 1;
end_rxsleep:	atomic { dataFd -> dataFd = 0; rxAsleep = 0 }
#endif
			fi
		fi
	od;
stop:
	if
	:: skip                                 /* close */
	:: goto idle                            /* or just stop, for good */
	fi;
	atomic { drain(csb); rxState = 2 };     /* swap: a full fence, then closed */
	wakeProducer(ok);
idle:
	goto out;
done:
	rxDone = 1;
out:
	skip
}

/* The drainers: each moves the oldest entry of one buffer to memory, at any
 * time. */
active proctype DrainProducer() {
end:	do :: atomic { psb?sa,sv -> mem[sa] = sv } od
}
active proctype DrainConsumer() {
end:	do :: atomic { csb?sa,sv -> mem[sa] = sv } od
}

/* When nothing can move any more (buffers drained, each side stopped or
 * asleep), which ends every run, no side may be asleep with work to do: that
 * would be a lost wakeup. And a consumer that stopped because the producer
 * closed must have received everything the producer published. */
active proctype Watchdog() {
end:	timeout ->
	assert(!(rxDone && tail != head));
	assert(!(rxAsleep && (tail != head || txState == 2)));
	assert(!(txAsleep && (tail - head < CAP || rxState == 2)))
}
