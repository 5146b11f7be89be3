package workqueue

// fifo is a first-in, first-out list of items kept in a ring buffer.
//
// A plain slice used as a queue (append at the back, reslice at the front)
// keeps reallocating as its front walks forward. The ring reuses the same
// backing array, so a queue in steady state allocates nothing.
//
// fifo is not safe for concurrent use; the queue guards it with its mutex.
type fifo[T any] struct {
	// slots is the ring. Its length is zero or a power of two, so that
	// "index modulo length" is a cheap bit mask.
	slots []T
	// head is the index of the oldest item; meaningless while count is 0.
	head int
	// count is the number of items stored, 0 <= count <= len(slots).
	count int
}

// minFIFOSlots is the first ring size. Small enough to cost nothing for an
// idle queue, large enough that a busy queue grows only a few times.
const minFIFOSlots = 16

func (f *fifo[T]) len() int { return f.count }

// push appends item at the back.
func (f *fifo[T]) push(item T) {
	if f.count == len(f.slots) {
		f.resize(max(minFIFOSlots, 2*len(f.slots)))
	}
	f.slots[(f.head+f.count)&(len(f.slots)-1)] = item
	f.count++
}

// pop removes and returns the item at the front. The caller checks len first.
func (f *fifo[T]) pop() T {
	item := f.slots[f.head]
	var zero T
	// Clear the slot so the ring does not keep a popped item (and whatever it
	// points to) alive for the garbage collector.
	f.slots[f.head] = zero
	f.head = (f.head + 1) & (len(f.slots) - 1)
	f.count--
	// Give memory back after a burst: shrink when three quarters are empty.
	// Halving (not quartering) leaves room to grow again without resizing at
	// once, so a queue hovering at a boundary does not resize on every op.
	if len(f.slots) > minFIFOSlots && f.count <= len(f.slots)/4 {
		f.resize(len(f.slots) / 2)
	}
	return item
}

// resize moves the items, oldest first, into a new ring of the given size.
func (f *fifo[T]) resize(size int) {
	slots := make([]T, size)
	if f.count > 0 {
		// The items may wrap around the end of the old ring: copy the part
		// from head to the end, then the part at the start.
		n := copy(slots, f.slots[f.head:min(f.head+f.count, len(f.slots))])
		copy(slots[n:], f.slots[:f.count-n])
	}
	f.slots = slots
	f.head = 0
}
