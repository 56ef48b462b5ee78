package ui_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/ui"
	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/events/eventstest"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// chromium returns the headless browser to drive, or skips the test.
// TASKFLEET_CHROMIUM names another binary.
func chromium(t *testing.T) string {
	t.Helper()
	name := os.Getenv("TASKFLEET_CHROMIUM")
	if name == "" {
		name = "chromium"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("no %s in PATH: the browser test needs Chromium (Debian: apt-get install chromium; .ci/run installs it)", name)
	}
	return path
}

// browser starts a headless Chromium with a fresh profile and returns a
// tab's context; both end with the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		// Chromium's own temporary files (org.chromium.Chromium.*) stay
		// behind when it is killed: in the test's directory they go with it.
		chromedp.Env("TMPDIR=" + t.TempDir()),
		chromedp.WindowSize(1360, 860),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	// The first call starts the browser and bounds its life: no timeout
	// on it; the steps run under one.
	require.NoError(t, chromedp.Do(bctx), "start Chromium")
	ctx, cancelT := context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(cancelT)
	return ctx
}

// waitJS polls a JavaScript expression in the page until it is true.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(20*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))
}

func countIs(status string, n int) chromedp.Action[chromedp.Void] {
	return waitJS(fmt.Sprintf(`(document.querySelector('#count-%s b') || {}).textContent === '%d'`, status, n))
}

// TestBrowser drives the console in headless Chromium: a pool with
// running, failed and done tasks, filtered to failed, one opened with its
// error, retried (actions on), the counts following live, a removal behind
// its confirmation. TASKFLEET_UI_SCREENSHOT=PATH also writes the
// screenshot there (docs/ui.png is made so).
func TestBrowser(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	srv := eventstest.Server(t, events.EmbeddedConfig{})
	conn := eventstest.Connect(t, srv, events.Config{MemoryStorage: true})
	b := newBackend(t)
	b.notifier = conn.Notifier()
	f := seed(t, b, "research", 24)
	seed(t, b, "nightly", 10)
	// Refresh is an hour: every change the page shows comes from the
	// event feed or from its own action.
	s, err := ui.New(ui.Config{Backend: b, History: conn, AllowActions: true, Refresh: time.Hour})
	require.NoError(t, err)
	hs := httpServer(t, s)
	failed := f.ids[taskstate.StatusFailed]

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(hs.URL+"/"),
		waitJS(`document.querySelectorAll('#pools tbody tr').length === 2`),
		chromedp.Click(chromedp.CSS(`#pools tr[data-pool="research"] a`)),
		countIs("failed", 3), countIs("running", 2), countIs("done", 4), countIs("waiting", 15),
		// Filter to failed.
		chromedp.SetValue(chromedp.CSS(`#f-status`), "failed"),
		chromedp.Click(chromedp.CSS(`#f-apply`)),
		waitJS(`[...document.querySelectorAll('#tasks tbody tr')].length === 3 &&
			[...document.querySelectorAll('#tasks tbody tr')].every(r => r.children[2].textContent === 'failed')`),
	))
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#tasks tbody tr')].map(r => r.dataset.id)`))
	require.NoError(t, err)
	require.ElementsMatch(t, failed, rows)

	// Open one: its error shows. The click is one script: a refresh (the
	// feed's history starts one) redraws the rows, and a row chromedp.Click
	// found can be gone by the time it clicks.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#tasks tr[data-id="`+failed[0]+`"]').click()`),
		chromedp.WaitVisible(chromedp.CSS(`#task-error`)),
	))
	errText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#task-error`)))
	require.NoError(t, err)
	require.Contains(t, errText, "ValueError: singular matrix")

	// Retry it: the task and the pool's counts change.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#act-retry`)),
		waitJS(`document.querySelector('#task-status').textContent === 'waiting'`),
		waitJS(`document.querySelector('#status-line').textContent === 'retry: 1 task(s)'`),
		// The pools table: waiting, running, part_done, done, failed and
		// the failure rate 2/6.
		waitJS(`[...document.querySelectorAll('#pools tr[data-pool="research"] td')].slice(1, 6).map(td => td.textContent).join(' ') === '16 2 0 4 2' &&
			document.querySelector('#pools tr[data-pool="research"] td:nth-child(8)').textContent === '33.3 %'`),
		chromedp.Navigate(hs.URL+"/#/pool/research"),
		countIs("failed", 2), countIs("waiting", 16),
	))
	tk, err := f.m.Get(t.Context(), failed[0])
	require.NoError(t, err)
	require.Equal(t, taskstate.StatusWaiting, tk.Status)

	// A worker elsewhere commits a running task: the page follows live,
	// and the activity feed names the task.
	claimed, err := f.m.Claim(t.Context(), taskstate.ClaimOptions{Query: taskstate.ByIDs(failed[0])})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.NoError(t, f.m.Commit(t.Context(), claimed[0], "ok", taskstate.StatusDone))
	require.NoError(t, chromedp.Do(ctx,
		countIs("done", 5), countIs("running", 2), countIs("waiting", 15),
		waitJS(`[...document.querySelectorAll('#feed li')].some(li => li.textContent.includes('committed 1 `+failed[0]+`'))`),
	))

	shot := screenshot(ctx, t)

	// Remove asks first: Back keeps the task, Confirm removes it. The
	// second Back and Remove come in one script, as from a quick user:
	// the dialog's close event of that Back comes only after the next
	// question opened, and must not answer it.
	done := f.ids[taskstate.StatusDone][0]
	ask := func() error {
		return chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#act-remove`)), chromedp.WaitVisible(chromedp.CSS(`#confirm`)))
	}
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(hs.URL+"/#/pool/research/task/"+done),
		waitJS(`document.querySelector('#task-id').textContent === '`+done+`'`),
	))
	require.NoError(t, ask())
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#confirm-no`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#confirm`)),
	))
	require.NoError(t, ask())
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#confirm-no').click(); document.querySelector('#act-remove').click()`),
		chromedp.WaitVisible(chromedp.CSS(`#confirm`)),
	))
	_, err = f.m.Get(t.Context(), done)
	require.NoError(t, err, "Back keeps the task")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#confirm-yes`)),
		waitJS(`location.hash === '#/pool/research'`),
		countIs("done", 4),
	))
	_, err = f.m.Get(t.Context(), done)
	require.ErrorIs(t, err, taskstate.ErrNotFound)

	if out := os.Getenv("TASKFLEET_UI_SCREENSHOT"); out != "" {
		require.NoError(t, os.WriteFile(out, shot, 0o644))
	}
}

// screenshot captures the page into the test's temp dir and returns it.
func screenshot(ctx context.Context, t *testing.T) []byte {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(png), "\x89PNG"), "a PNG")
	path := filepath.Join(t.TempDir(), "console.png")
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
	return png
}
