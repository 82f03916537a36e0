// Open-loop HTTP load generator for `make bench` (stdlib only).
//
// Requests are scheduled at fixed times (start + i/rate) whatever the server does, and each
// latency is measured from the request's scheduled time, not from when a connection was free:
// a stalled server is charged for the requests that queued behind it (no coordinated
// omission). `{{ID}}` in the body and header values becomes a unique id per request.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type headerList []string

func (h *headerList) String() string     { return strings.Join(*h, ", ") }
func (h *headerList) Set(v string) error { *h = append(*h, v); return nil }

type result struct {
	scheduled time.Time
	latency   time.Duration
	status    int
	txID      string
	id        string
}

type summary struct {
	Rate        float64            `json:"rate"`
	DurationS   float64            `json:"durationS"`
	Sent        int                `json:"sent"`
	Completed   int                `json:"completed"`
	Errors      int                `json:"errors"`
	Statuses    map[string]int     `json:"statuses"`
	AchievedRPS float64            `json:"achievedRps"`
	LatencyMs   map[string]float64 `json:"latencyMs"`
	Saturated   bool               `json:"saturated"`
	NotSent     int                `json:"notSent"`
}

func main() {
	url := flag.String("url", "", "target URL")
	method := flag.String("method", "POST", "HTTP method")
	rate := flag.Float64("rate", 100, "requests per second (open loop)")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	workers := flag.Int("workers", 512, "concurrent requests at most (connections)")
	bodyFile := flag.String("body", "", "file with the request body; {{ID}} is replaced")
	records := flag.String("records", "", "write one JSON line per request here")
	timeout := flag.Duration("timeout", 30*time.Second, "per-request timeout")
	prefix := flag.String("id-prefix", "bench", "prefix of the unique ids")
	maxBacklog := flag.Duration("max-backlog", 3*time.Second,
		"stop (saturated) once a request waited this long for a free connection")
	var headers headerList
	flag.Var(&headers, "H", "header 'Name: value' ({{ID}} is replaced); repeatable")
	flag.Parse()
	if *url == "" || *rate <= 0 {
		fmt.Fprintln(os.Stderr, "need -url and a positive -rate")
		os.Exit(2)
	}
	body := []byte{}
	if *bodyFile != "" {
		b, err := os.ReadFile(*bodyFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		body = b
	}
	transport := &http.Transport{
		MaxIdleConns:        *workers,
		MaxIdleConnsPerHost: *workers,
		MaxConnsPerHost:     *workers,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	client := &http.Client{Transport: transport, Timeout: *timeout}

	total := int(*rate * duration.Seconds())
	jobs := make(chan int, total+1)
	results := make([]result, total)
	var done int64
	var aborted atomic.Bool
	sent := make([]bool, total)
	var wg sync.WaitGroup
	start := time.Now().Add(50 * time.Millisecond)
	interval := float64(time.Second) / *rate
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				due := start.Add(time.Duration(float64(i) * interval))
				if aborted.Load() {
					continue
				}
				if time.Since(due) > *maxBacklog {
					aborted.Store(true)
					continue
				}
				sent[i] = true
				results[i] = send(client, *method, *url, body, headers, *prefix, i,
					start.Add(time.Duration(float64(i)*interval)))
				atomic.AddInt64(&done, 1)
			}
		}()
	}
	for i := 0; i < total && !aborted.Load(); i++ {
		due := start.Add(time.Duration(float64(i) * interval))
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)

	kept := make([]result, 0, total)
	for i, r := range results {
		if sent[i] {
			kept = append(kept, r)
		}
	}
	if *records != "" {
		writeRecords(*records, kept)
	}
	out := summarize(kept, *rate, elapsed)
	out.Saturated = aborted.Load()
	out.NotSent = total - len(kept)
	enc := json.NewEncoder(os.Stdout)
	_ = enc.Encode(out)
}

func send(c *http.Client, method, url string, body []byte, headers headerList, prefix string,
	i int, scheduled time.Time) result {
	id := prefix + "-" + strconv.Itoa(i)
	b := bytes.ReplaceAll(body, []byte("{{ID}}"), []byte(id))
	req, err := http.NewRequest(method, url, bytes.NewReader(b))
	if err != nil {
		return result{scheduled: scheduled, latency: time.Since(scheduled), status: 0}
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(name), strings.ReplaceAll(strings.TrimSpace(value), "{{ID}}", id))
	}
	resp, err := c.Do(req)
	if err != nil {
		return result{scheduled: scheduled, latency: time.Since(scheduled), status: 0}
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	lat := time.Since(scheduled)
	var parsed struct {
		TransactionID string `json:"transactionId"`
	}
	_ = json.Unmarshal(raw, &parsed)
	return result{scheduled: scheduled, latency: lat, status: resp.StatusCode,
		txID: parsed.TransactionID, id: id}
}

func writeRecords(path string, results []result) {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	defer w.Flush()
	for _, r := range results {
		line, _ := json.Marshal(map[string]any{
			"submittedAt":   float64(r.scheduled.UnixNano()) / 1e9,
			"latencyMs":     float64(r.latency.Microseconds()) / 1000,
			"status":        r.status,
			"transactionId": r.txID,
			"id":            r.id,
		})
		w.Write(line)
		w.WriteString("\n")
	}
}

func summarize(results []result, rate float64, elapsed time.Duration) summary {
	statuses := map[string]int{}
	lat := make([]float64, 0, len(results))
	errors := 0
	for _, r := range results {
		statuses[strconv.Itoa(r.status)]++
		if r.status < 200 || r.status > 299 {
			errors++
		}
		lat = append(lat, float64(r.latency.Microseconds())/1000)
	}
	sort.Float64s(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		idx := int(p/100*float64(len(lat))+0.5) - 1
		if idx < 0 {
			idx = 0
		}
		if idx >= len(lat) {
			idx = len(lat) - 1
		}
		return lat[idx]
	}
	return summary{
		Rate:        rate,
		DurationS:   elapsed.Seconds(),
		Sent:        len(results),
		Completed:   len(results) - statuses["0"],
		Errors:      errors,
		Statuses:    statuses,
		AchievedRPS: float64(len(results)) / elapsed.Seconds(),
		LatencyMs: map[string]float64{
			"p50": pct(50), "p90": pct(90), "p99": pct(99), "p99.9": pct(99.9), "max": pct(100),
		},
	}
}
