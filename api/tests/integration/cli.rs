//! The `cxlvmm-remote` binary against a server with the mock VMM.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::{Fixture, TempDir, TAG};

fn remote(socket: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cxlvmm-remote"))
        .arg("--api-socket")
        .arg(socket)
        .args(args)
        .output()
        .unwrap()
}

/// Runs with `--json`, expects success and one line of JSON.
fn json(socket: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = remote(socket, &all);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    serde_json::from_str(&stdout).unwrap()
}

/// Runs, expects success, returns stdout.
fn text(socket: &Path, args: &[&str]) -> String {
    let out = remote(socket, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn json_session() {
    let f = Fixture::start();
    let s = f.path();
    assert_eq!(json(s, &["info"])["state"], "running");
    let b = json(
        s,
        &[
            "backend-add",
            "--id",
            "mem0",
            "--size",
            "256M",
            "--tag",
            TAG,
        ],
    );
    assert_eq!(
        (b["id"].as_str(), b["size"].as_u64()),
        (Some("mem0"), Some(256 << 20))
    );
    assert_eq!(json(s, &["backend-list"])[0]["id"], "mem0");
    assert_eq!(json(s, &["devices"])[0]["dc-regions"][1]["index"], 1);
    let added = json(
        s,
        &[
            "dc-add", "cxl-mem0", "--region", "0", "--tag", TAG, "--extent", "0:256M",
        ],
    );
    assert_eq!(added["extents"][0]["state"], "pending");
    let list = json(s, &["dc-extents", "cxl-mem0"]);
    assert_eq!(
        (list[0]["backend"].as_str(), list[0]["mapped"].as_bool()),
        (Some("mem0"), Some(true))
    );
    let st = json(s, &["dc-status", "cxl-mem0", "--region", "0", "--tag", TAG]);
    assert_eq!(st["status"], "accepted");
    let rel = json(
        s,
        &["dc-release", "cxl-mem0", "--region", "0", "--tag", TAG],
    );
    assert_eq!(rel["extents"][0]["state"], "release-pending");
    let st = json(
        s,
        &[
            "dc-status",
            "cxl-mem0",
            "--region",
            "0",
            "--extent",
            "0:256M",
        ],
    );
    assert_eq!(st["status"], "release-pending");
    let st = json(
        s,
        &[
            "dc-status",
            "cxl-mem0",
            "--region",
            "0",
            "--extent",
            "0:0x10000000",
        ],
    );
    assert_eq!(st["status"], "released");

    // 204 answers print nothing.
    let out = remote(s, &["--json", "backend-del", "mem0"]);
    assert!(out.status.success() && out.stdout.is_empty());
    let out = remote(s, &["--json", "shutdown"]);
    assert!(out.status.success() && out.stdout.is_empty());
    assert_eq!(json(s, &["info"])["state"], "shutting-down");
}

#[test]
fn human_output() {
    let f = Fixture::start();
    let s = f.path();
    let info = text(s, &["info"]);
    assert!(
        info.starts_with("state    running\ncpus     2\nmemory   1G\n"),
        "{info}"
    );
    let out = text(
        s,
        &["backend-add", "--id", "mem0", "--size", "64M", "--tag", TAG],
    );
    assert!(out.starts_with("ID    KIND   SIZE  SHARE"), "{out}");
    assert!(out.contains("mem0  memfd  64M   yes"), "{out}");
    let out = text(s, &["devices"]);
    assert!(
        out.starts_with("cxl-mem0  serial 0xc0ffee  static capacity 256M\n"),
        "{out}"
    );
    let out = text(
        s,
        &[
            "dc-add", "cxl-mem0", "--region", "1", "--tag", TAG, "--extent", "64M:64M",
        ],
    );
    assert!(
        out.contains("1       0x4000000  64M  0x54000000  pending  5be1e4d0"),
        "{out}"
    );
    let out = text(s, &["dc-extents", "cxl-mem0"]);
    assert!(
        out.starts_with("REGION  OFFSET     LEN  DPA         HPA"),
        "{out}"
    );
    assert!(out.contains("accepted  yes     mem0"), "{out}");
    let out = text(s, &["dc-status", "cxl-mem0", "--region", "1", "--tag", TAG]);
    assert_eq!(out, "accepted\n");
    text(
        s,
        &[
            "backend-add",
            "--id",
            "m1",
            "--size",
            "2M",
            "--kind",
            "file",
            "--path",
            "/tmp/m1",
        ],
    );
    assert_eq!(text(s, &["backend-del", "m1"]), "removed m1\n");
    assert_eq!(text(s, &["shutdown"]), "shutting down\n");
}

#[test]
fn errors_and_exit_statuses() {
    let f = Fixture::start();
    let s = f.path();
    let out = remote(s, &["dc-extents", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err, "cxlvmm-remote: unknown device 'nope' (HTTP 404)\n");

    let out = remote(
        s,
        &[
            "--json",
            "backend-add",
            "--id",
            "m",
            "--size",
            "1",
            "--kind",
            "file",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err,
        "cxlvmm-remote: a file backend needs a path (HTTP 400)\n"
    );

    let out = remote(s, &["dc-add", "cxl-mem0", "--region", "0"]);
    assert_eq!(out.status.code(), Some(2), "usage error");
    let out = remote(s, &["frobnicate"]);
    assert_eq!(out.status.code(), Some(2), "usage error");

    let dir = TempDir::create();
    let out = remote(&dir.join("none.sock"), &["info"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("cxlvmm-remote: cannot connect to") && err.lines().count() == 1,
        "{err}"
    );
}

fn bare(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cxlvmm-remote"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn trace_prints_a_trace_file_without_a_socket() {
    let dir = TempDir::create();
    let path = dir.join("t.jsonl");
    std::fs::write(
        &path,
        concat!(
            r#"{"seq":1,"t_us":1500000,"kind":"vm","state":"started","cpus":1}"#,
            "\n",
            r#"{"seq":2,"t_us":1500100,"kind":"mailbox","device":"mem0","opcode":16384,"name":"Identify Memory Device","in":{},"rc":"Success","rc_code":0,"out":{"lsa_size":4096},"ns":20000}"#,
            "\n",
            r#"{"seq":3,"t_us":1600000,"kind":"dc","device":"mem0","step":"offered"}"#,
        ),
    )
    .unwrap();
    let out = bare(&["trace", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].contains("SEQ") && lines[0].contains("SUMMARY"));
    assert!(lines[1].contains("1.500000") && lines[1].ends_with("started cpus=1"));
    assert!(
        lines[2]
            .ends_with(r#"Identify Memory Device (4000h) -> Success out {"lsa_size":4096} 20 us"#),
        "{}",
        lines[2]
    );
    // The last line has no newline yet (being written): printed anyway.
    assert!(lines[3].ends_with("offered"));
    // --json: the lines as they are.
    let out = bare(&["--json", "trace", path.to_str().unwrap()]);
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 3);
    // A missing file is an error; API commands still need the socket.
    let out = bare(&["trace", dir.join("none").to_str().unwrap()]);
    assert!(!out.status.success());
    let out = bare(&["info"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--api-socket"));
}

#[test]
fn events_without_a_stream_is_an_error() {
    // The mock server has no event ring: 503, reported.
    let f = Fixture::start();
    let out = remote(f.path(), &["events"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("503"));
}

#[test]
fn trace_follow_prints_what_is_appended() {
    use std::io::{BufRead, BufReader, Write};
    let dir = TempDir::create();
    let path = dir.join("t.jsonl");
    std::fs::write(&path, "{\"seq\":1,\"kind\":\"vm\",\"state\":\"started\"}\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cxlvmm-remote"))
        .args(["trace", "--follow", path.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.contains("SUMMARY"), "{line}");
    line.clear();
    out.read_line(&mut line).unwrap();
    assert!(line.trim_end().ends_with("started"), "{line}");
    // A record appended later (here in two writes) is printed as one row.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"{\"seq\":2,\"kind\":\"dc\",").unwrap();
    f.flush().unwrap();
    f.write_all(b"\"step\":\"accepted\"}\n").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.trim_end().ends_with("accepted"), "{line}");
}
