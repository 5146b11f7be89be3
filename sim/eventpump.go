package sim

import (
	"sync"

	"k8s.io/apimachinery/pkg/watch"
)

// eventPump hands watch events to one reader, one at a time, in the order
// they were queued. Writers never block, however far the reader falls
// behind, and pending tells a runner whether the reader is still behind.
type eventPump struct {
	result chan watch.Event
	// wake has room for one signal: "queue is no longer empty".
	wake chan struct{}

	mu    sync.Mutex
	queue []watch.Event
	// handing is true while run holds an event the reader has not taken.
	handing bool
}

func newEventPump() *eventPump {
	return &eventPump{result: make(chan watch.Event), wake: make(chan struct{}, 1)}
}

func (p *eventPump) enqueue(ev watch.Event) {
	p.mu.Lock()
	p.queue = append(p.queue, ev)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// pending counts the events the reader has not taken yet.
func (p *eventPump) pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.queue)
	if p.handing {
		n++
	}
	return n
}

// run delivers events until stopped is closed, then closes result.
func (p *eventPump) run(stopped <-chan struct{}) {
	defer close(p.result)
	for {
		p.mu.Lock()
		if len(p.queue) == 0 {
			p.mu.Unlock()
			select {
			case <-p.wake:
				continue
			case <-stopped:
				return
			}
		}
		ev := p.queue[0]
		p.queue[0] = watch.Event{}
		p.queue = p.queue[1:]
		p.handing = true
		p.mu.Unlock()

		select {
		case p.result <- ev:
		case <-stopped:
			return
		}
		p.mu.Lock()
		p.handing = false
		p.mu.Unlock()
	}
}
