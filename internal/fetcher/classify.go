package fetcher

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/gather-dev/gather/internal/h1"
)

// failed fills rec from an attempt's error and says whether to retry.
func (f *Fetcher) failed(ctx context.Context, rec *Record, err error, n int, last bool) (time.Duration, bool) {
	kind, msg, retryable := f.classify(ctx, err)
	rec.Error, rec.Message = kind, msg
	if retryable && !last {
		return backoff(n, f.opts.Backoff, f.opts.MaxBackoff), true
	}
	return 0, false
}

// classify names the kind of a request's error, gives its message without
// the "Get URL:" prefix the record already says, and reports whether it is
// worth retrying. Both clients' errors map to the same kinds: a deadline
// is a timeout whether a context or a connection's deadline ran out, and a
// response the parser rejects is a connection error like net/http's
// "malformed HTTP response".
func (f *Fetcher) classify(ctx context.Context, err error) (kind, msg string, retryable bool) {
	if ctx.Err() != nil {
		return KindCancelled, "interrupted: " + context.Cause(ctx).Error(), false
	}
	msg = err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = ue.Err.Error()
	}
	var (
		se      *saveError
		ne      net.Error
		dns     *net.DNSError
		rh      tls.RecordHeaderError
		cv      *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		badName x509.HostnameError
		invalid x509.CertificateInvalidError
		re      *redirectError
	)
	timedOut := errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, errAttemptTimeout)
	switch {
	case errors.As(err, &se):
		return KindSave, se.Error(), false
	case errors.As(err, &re):
		return KindRedirects, re.Error(), false
	case timedOut && f.opts.Timeout > 0:
		return KindTimeout, fmt.Sprintf("attempt took longer than %v", f.opts.Timeout), true
	case timedOut:
		return KindTimeout, msg, true
	case errors.As(err, &dns):
		return KindDNS, msg, !dns.IsNotFound
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused, msg, true
	case errors.As(err, &rh), errors.As(err, &cv), errors.As(err, &unknown),
		errors.As(err, &badName), errors.As(err, &invalid):
		return KindTLS, msg, false
	case errors.As(err, &ne) && ne.Timeout():
		return KindTimeout, msg, true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return KindConnection, "connection closed before the response was complete (" + msg + ")", true
	case errors.Is(err, h1.ErrProtocol):
		return KindConnection, msg, true
	}
	return KindConnection, msg, true
}
