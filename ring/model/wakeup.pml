/*
 * The fdring wakeup protocol (ring/ring.go, sender.go, receiver.go), for the
 * spin model checker. One producer, one consumer, the two shared indices,
 * the two state words (0 running, 1 waiting, 2 closed) and the two eventfds
 * (modelled as "readable" flags: a signal sets it, a wait blocks until it is
 * set and clears it). Every access to a shared word is one atomic step, as
 * Go's sequentially consistent atomics make it.
 *
 * Checked: no invalid end state (a lost wakeup shows as both sides blocked
 * with work pending, or one side asleep forever), and the assertions (every
 * element delivered once, in order, none lost, none read twice).
 *
 *   spin -a wakeup.pml && gcc -O2 -o pan pan.c && ./pan -m1000000
 *
 * With -DBROKEN the consumer sleeps without re-checking the ring after it
 * declared that it sleeps; spin must find the lost wakeup.
 */

#define CAP 3      /* ring capacity */
#define N   7      /* elements the producer sends */

byte tail = 0;     /* producer's index, published */
byte head = 0;     /* consumer's index, published */
byte buf[CAP];
byte rxState = 0;  /* consumer's state word */
byte txState = 0;  /* producer's state word */
bool dataFd = 0;   /* data-ready eventfd is readable */
bool spaceFd = 0;  /* space-ready eventfd is readable */
bool consumerClosedEarly = 0;

inline cas(v, old, new, ok) {
	atomic { if :: v == old -> v = new; ok = 1 :: else -> ok = 0 fi }
}

/* Declare "I sleep": CAS 0->1. Finding 1 instead is a declaration whose
 * wakeup an earlier sleep consumed and which still stands; Arm (ring.go)
 * treats it as armed. Nothing else can be there: only the owner closes. */
inline declare(v) {
	atomic { if :: v == 0 -> v = 1 :: else -> assert(v == 1) fi }
}

/* After publishing, a side loads the peer's state and wakes it only if it
 * declared it sleeps, once (the CAS claims the wakeup). */
inline wakeConsumer() {
	if
	:: rxState == 1 -> cas(rxState, 1, 0, ok); if :: ok -> dataFd = 1 :: else -> skip fi
	:: else -> skip
	fi
}
inline wakeProducer() {
	if
	:: txState == 1 -> cas(txState, 1, 0, ok); if :: ok -> spaceFd = 1 :: else -> skip fi
	:: else -> skip
	fi
}

active proctype Producer() {
	byte next = 0;   /* private tail */
	byte h;
	bool ok;
	do
	:: next == N -> break
	:: rxState == 2 -> break                   /* the receiver closed: stop */
	:: else ->
		h = head;                              /* (re)load the peer's index */
		if
		:: next - h < CAP ->
			buf[next % CAP] = next;            /* fill */
			next++;
			tail = next;                       /* publish: atomic store */
			wakeConsumer()                     /* then load the peer's state */
		:: else ->                             /* full: declare, re-check, sleep */
			declare(txState)
			h = head;
			if
			:: next - h < CAP || rxState == 2 ->
				cas(txState, 1, 0, ok)         /* undo; a lost CAS means a signal is on its way */
			:: else ->
				atomic { spaceFd -> spaceFd = 0 }   /* sleep until signalled */
			fi
		fi
	od;
	/* Close: store closed, then load the peer's state. */
	txState = 2;
	wakeConsumer()
}

active proctype Consumer() {
	byte expect = 0;
	byte t, st;
	bool ok;
	do
	:: t = tail;
		if
		:: t != head ->
			assert(buf[head % CAP] == expect); /* in order, nothing lost or repeated */
			expect++;
			head = head + 1;                   /* release: atomic store */
			wakeProducer()
		:: else ->
			st = txState;
			if
			:: st == 2 ->
				t = tail;                      /* closed: the final tail is visible now */
				if :: t == head -> break :: else -> skip fi
			:: else ->
				declare(rxState);
#ifndef BROKEN
				t = tail; st = txState;        /* re-check */
				if
				:: t != head || st == 2 ->
					cas(rxState, 1, 0, ok)
				:: else ->
					atomic { dataFd -> dataFd = 0 }
				fi
#else
				atomic { dataFd -> dataFd = 0 }
#endif
			fi
		fi
	:: expect > 0 && !consumerClosedEarly ->  /* the consumer may close at any time */
		consumerClosedEarly = 1;
		rxState = 2;
		wakeProducer();
		break
	od;
	assert(consumerClosedEarly || expect == N)
}
