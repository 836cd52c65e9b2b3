package gather

// An Option changes how [Go], [Spawn], [Group.Go], [Group.TryGo] or
// [NewGroup] start what they start: [Name] names it, [Shield] keeps a task
// or child running when its parent is cancelled. Options are values: a
// call without them costs nothing more than one with none.
type Option struct {
	kind optionKind
	name string
}

type optionKind uint8

const (
	optName optionKind = iota + 1
	optShield
)

// Name names a task, a group child or a group. The name shows where the
// task does: in its [*PanicError], in the report of an error nobody read
// ([UnretrievedError]), in the task tree ([WriteTasks]), as the pprof label
// "gather.task" (or "gather.group") on its goroutine, so that CPU and
// goroutine profiles group by task, and as the type of its runtime/trace
// task, so that go tool trace shows the tree. Like asyncio's task names, a
// name need not be unique.
//
// A name costs the task a small allocation and the label's (about 4
// allocations, 300 ns); a task without one pays nothing.
func Name(name string) Option { return Option{kind: optName, name: name} }

// Shield starts a task or group child that its parent's cancellation does
// not stop, like asyncio.shield: its context is made with
// [context.WithoutCancel], so it keeps the parent's values but not its
// deadline or cancellation. A shielded child still belongs to its group,
// which waits for it in [Group.Wait] and reads its error, and a shielded
// task started under [Run] is still waited for when main returns. Use it
// for work that must finish once begun: saving state, releasing a lease,
// writing the last record. [Task.Cancel] still cancels a shielded task.
func Shield() Option { return Option{kind: optShield} }

// names returns the name and whether the task is shielded.
func parseOptions(opts []Option) (name string, shield bool) {
	for _, o := range opts {
		switch o.kind {
		case optName:
			name = o.name
		case optShield:
			shield = true
		}
	}
	return name, shield
}
