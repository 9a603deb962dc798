package storetest

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/tasklife/tasklife"
)

// The owners in a history: one whose leases hold, and a zombie whose
// leases run out at once, so that Expire may end its tasks while its
// fenced outcomes are on their way.
const (
	linOwner  = "owner"
	linZombie = "zombie"
)

func linLease(owner string) time.Duration {
	if owner == linZombie {
		return time.Microsecond
	}
	return time.Hour
}

// genOp picks the next operation of a client: a read for every three
// writes, most of them plain events.
func genOp(rng *rand.Rand, tasks int) linInput {
	in := linInput{task: rng.IntN(tasks), owner: []string{linOwner, linZombie}[rng.IntN(2)]}
	events := tasklife.Events()
	outcomes := []tasklife.Event{tasklife.EventSucceed, tasklife.EventFail, tasklife.EventCanceled}
	switch n := rng.IntN(16); {
	case n < 4:
		in.op = opGet
	case n < 10:
		in.op, in.event = opEvent, events[rng.IntN(len(events))]
	case n < 12:
		in.op = opClaim
	case n < 14:
		in.op, in.event = opFenced, outcomes[rng.IntN(len(outcomes))]
	case n < 15:
		in.op = opRenew
	default:
		in.op = opExpire
	}
	return in
}

// callOp makes the call in describes, and returns what it says about each
// task it concerns: one task, or for Expire, those it ended.
func callOp(ctx context.Context, svc *tasklife.Service, store tasklife.Store, guids []string, in linInput) ([]linResult, error) {
	guid := guids[in.task]
	one := func(t *tasklife.Task, err error) ([]linResult, error) {
		if err != nil {
			return nil, err
		}
		return []linResult{{in.task, linOutput{kind: outOK, state: t.State, version: t.Version}}}, nil
	}
	switch in.op {
	case opGet:
		return one(store.Get(ctx, guid))
	case opEvent:
		return one(svc.Apply(ctx, guid, in.event, "boom"))
	case opFenced:
		return one(svc.ApplyAs(ctx, in.owner, guid, in.event, "boom"))
	case opClaim:
		claimed, err := svc.Claim(ctx, tasklife.ClaimRequest{Owner: in.owner, Lease: linLease(in.owner), Limit: 1, GUIDs: []string{guid}})
		if err != nil || len(claimed) == 1 {
			var t *tasklife.Task
			if err == nil {
				t = claimed[0]
			}
			return one(t, err)
		}
		return []linResult{{in.task, linOutput{kind: outNone}}}, nil
	case opRenew:
		held, err := svc.Renew(ctx, in.owner, linLease(in.owner))
		if err != nil {
			return nil, err
		}
		for _, g := range held {
			if g == guid {
				return []linResult{{in.task, linOutput{kind: outOK}}}, nil
			}
		}
		return []linResult{{in.task, linOutput{kind: outNone}}}, nil
	}
	ended, err := svc.Expire(ctx, tasklife.ExpireRequest{CancelDeadline: time.Microsecond, Limit: tasklife.MaxPerPage})
	if err != nil {
		return nil, err
	}
	var outs []linResult
	for _, t := range ended {
		for k, g := range guids {
			if g == t.GUID {
				outs = append(outs, linResult{k, linOutput{kind: outOK, state: t.State, version: t.Version, reason: t.FailureReason}})
			}
		}
	}
	return outs, nil
}
