package mongostore

import (
	"context"
	"time"
)

// claimCallTimeout bounds one findOneAndUpdate of a claim, which runs to
// its end even if the caller's context is cancelled meanwhile.
const claimCallTimeout = 30 * time.Second

// uncancelled returns the context of one call that must not be abandoned
// half way: once sent, the server may apply it whatever the client does,
// and a claim applied but never seen leaves a task running that nobody
// runs until its lease expires. The caller's cancellation is checked
// between such calls instead.
func uncancelled(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), claimCallTimeout)
}
