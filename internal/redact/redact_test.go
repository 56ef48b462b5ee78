package redact_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/redact"
)

func TestURI(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", ""},
		{"not a URI", "localhost", "localhost"},
		{"no credentials", "mongodb://localhost:27017/", "mongodb://localhost:27017/"},
		{"user and password", "mongodb://alice:s3cret@db.example:27017/", "mongodb://***@db.example:27017/"},
		{"user only", "mongodb://alice@db.example/", "mongodb://***@db.example/"},
		{"token", "nats://s3cr3tT0ken@host:4222", "nats://***@host:4222"},
		{"srv", "mongodb+srv://alice:s3cret@cluster0.example.net/app?retryWrites=true", "mongodb+srv://***@cluster0.example.net/app?retryWrites=true"},
		{"several hosts", "mongodb://u:p@h1:1,h2:2,h3:3/?replicaSet=rs0", "mongodb://***@h1:1,h2:2,h3:3/?replicaSet=rs0"},
		{"percent-escaped password", "mongodb://u:p%40ss%2Fw@h/", "mongodb://***@h/"},
		{"unescaped at sign and slash", "mongodb://u:p@ss/w@h/db", "mongodb://***@h/db"},
		{"unescaped colon", "tls://user:p@ss/w:rd@host:4222", "tls://***@host:4222"},
		{"space in password", "mongodb://bob:Sec r3t@h/", "mongodb://***@h/"},
		{"quotes in password", `mongodb://bob:S"e'c@h/`, "mongodb://***@h/"},
		{"comma in password", "mongodb://bob:a,b@h1,h2/", "mongodb://***@h1,h2/"},
		{"unknown scheme", "mongdb://bob:Sec r3t@h/", "mongdb://***@h/"},
		{"no scheme", "user:pass@host:4222", "***@host:4222"},
		{"list", "nats://a:1@h1:4222,nats://h2:4222, nats://b:2@h3:4222", "nats://***@h1:4222,nats://h2:4222, nats://***@h3:4222"},
		{"websocket", "ws://u:p@host:8080", "ws://***@host:8080"},
		{"secret options", "mongodb://h/?tls=true&tlsCertificateKeyFilePassword=hunter2&authMechanismProperties=AWS_SESSION_TOKEN:tok&w=majority",
			"mongodb://h/?tls=true&tlsCertificateKeyFilePassword=***&authMechanismProperties=***&w=majority"},
		{"token option", "https://h/x?access_token=abc&page=2", "https://h/x?access_token=***&page=2"},
		{"credentials and options", "mongodb://u:p@h/?password=x", "mongodb://***@h/?password=***"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, redact.URI(tc.in))
			require.Equal(t, tc.want, redact.URI(tc.want), "redacting twice changes nothing")
		})
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "no secrets here: a@b", "no secrets here: a@b"},
		{"in a sentence", "connect to mongodb://alice:pw@h:27017/db failed", "connect to mongodb://***@h:27017/db failed"},
		{"space in password", "open mongdb://bob:Sec r3t@h/: refused", "open mongdb://***@h/: refused"},
		{"quotes in password", `dial mongodb://bob:Se"c'r3t@h/ failed`, "dial mongodb://***@h/ failed"},
		{"quoted", `--store "mongodb://bob:Sec r3t@h/db"`, `--store "mongodb://***@h/db"`},
		{"escaped quote in JSON", `{"store":"mongodb://bob:Se\"c@h/db","n":1}`, `{"store":"mongodb://***@h/db","n":1}`},
		{"at sign in password", "mongodb://u:p@ss@h/db down", "mongodb://***@h/db down"},
		{"percent-escaped", "mongodb://u:p%40ss@h/", "mongodb://***@h/"},
		{"unknown scheme", "x foo+bar://u:p@h y", "x foo+bar://***@h y"},
		{"two URIs", "nats://a:1@h1:4222 and mongodb://b:2@h2/", "nats://***@h1:4222 and mongodb://***@h2/"},
		{"JSON fields stay apart", `{"store":"mongodb://h/db","owner":"w@host"}`, `{"store":"mongodb://h/db","owner":"w@host"}`},
		{"console fields stay apart", `{"store": "mongodb://h/db", "owner": "w@host"}`, `{"store": "mongodb://h/db", "owner": "w@host"}`},
		{"lines stay apart", "mongodb://h/db\nmail bob@example.com", "mongodb://h/db\nmail bob@example.com"},
		{"secret option", "mongodb://h/?tls=true&tlsCertificateKeyFilePassword=hunter2 rejected", "mongodb://h/?tls=true&tlsCertificateKeyFilePassword=*** rejected"},
		{"options by name", "GET /x?token=abc&apiKey=def&n=1", "GET /x?token=***&apiKey=***&n=1"},
		{"already redacted", "mongodb://***@h/?password=***", "mongodb://***@h/?password=***"},
		{"JSON-escaped options", `{"uri":"mongodb://h/?tls=true\u0026tlsCertificateKeyFilePassword=hunter2\u0026w=1"}`,
			`{"uri":"mongodb://h/?tls=true\u0026tlsCertificateKeyFilePassword=***\u0026w=1"}`},
		{"option value ends at a JSON escape", `{"uri":"https://h/x?token=abc\"}`, `{"uri":"https://h/x?token=***\"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, redact.Text(tc.in))
		})
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	got := redact.Secrets("mongodb://alice:p%40ss@h/?tlsCertificateKeyFilePassword=hunter2&w=1")
	for _, want := range []string{"alice:p%40ss", "alice:p@ss", "p%40ss", "p@ss", "hunter2"} {
		require.Contains(t, got, want)
	}
	require.Contains(t, redact.Secrets("nats://tok3n@h"), "tok3n", "a token URL's user part is a secret")
	require.Equal(t, []string{"u%3Ap", "u:p"}, redact.Secrets("mongodb://u:p@h"), "p alone is too short to scrub")
	for i := 1; i < len(got); i++ {
		require.GreaterOrEqual(t, len(got[i-1]), len(got[i]), "longest first")
	}
}

func TestRedactor(t *testing.T) {
	t.Parallel()
	r := redact.New([]string{"nats://alice:p%40ss-word@h1:4222,nats://tok3n-xyz@h2:4222", ""}, "field-pass", "field-token", "ab")
	for _, tc := range []struct{ in, want string }{
		{"dial nats://alice:p%40ss-word@h1:4222 failed", "dial nats://***@h1:4222 failed"},
		{"bad password p@ss-word", "bad password ***"},
		{"token tok3n-xyz rejected", "token *** rejected"},
		{"field-pass and field-token, escaped field%2Dpass", "*** and ***, escaped field%2Dpass"},
		{"user bob, short ab", "user bob, short ab"},
		{"other mongodb://x:yz@h/", "other mongodb://***@h/"},
	} {
		require.Equal(t, tc.want, r.String(tc.in))
	}

	var nilR *redact.Redactor
	require.Equal(t, "mongodb://***@h/", nilR.String("mongodb://u:Sec r3t@h/"))

	var buf bytes.Buffer
	w := redact.New(nil, "hunter22").Writer(&buf)
	n, err := fmt.Fprintf(w, "password hunter22 for mongodb://u:v w@h/\n")
	require.NoError(t, err)
	require.Equal(t, len("password hunter22 for mongodb://u:v w@h/\n"), n, "Write reports the bytes it was given")
	require.Equal(t, "password *** for mongodb://***@h/\n", buf.String())
}
