package runtime

import "sync"

// idLocks are mutexes by container ID, made on first use and dropped when
// nobody holds or awaits them.
type idLocks struct {
	mu sync.Mutex
	by map[string]*idLock
}

type idLock struct {
	mu sync.Mutex
	n  int // holders and waiters
}

// ref returns id's lock, counted as held or awaited.
func (l *idLocks) ref(id string) *idLock {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.by == nil {
		l.by = map[string]*idLock{}
	}
	k := l.by[id]
	if k == nil {
		k = &idLock{}
		l.by[id] = k
	}
	k.n++
	return k
}

func (l *idLocks) unref(id string, k *idLock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if k.n--; k.n == 0 {
		delete(l.by, id)
	}
}

// lock waits for id's lock and returns its unlock.
func (l *idLocks) lock(id string) (unlock func()) {
	k := l.ref(id)
	k.mu.Lock()
	return func() { k.mu.Unlock(); l.unref(id, k) }
}

// tryLock takes id's lock if nobody holds it.
func (l *idLocks) tryLock(id string) (unlock func(), ok bool) {
	k := l.ref(id)
	if !k.mu.TryLock() {
		l.unref(id, k)
		return nil, false
	}
	return func() { k.mu.Unlock(); l.unref(id, k) }, true
}

// busy reports how many hold or await id's lock.
func (l *idLocks) busy(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if k := l.by[id]; k != nil {
		return k.n
	}
	return 0
}
