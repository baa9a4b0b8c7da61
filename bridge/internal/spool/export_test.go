package spool

// Syncs is how many fsyncs appends have cost so far.
func (s *Spool) Syncs() int64 { return s.syncs.Load() }
