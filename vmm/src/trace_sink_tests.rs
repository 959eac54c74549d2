use super::*;

fn rec(kind: Kind, device: Option<&str>, fields: Value) -> Record {
    Record {
        kind,
        device: device.map(str::to_owned),
        fields,
    }
}

fn parse(l: &str) -> Value {
    serde_json::from_str(l).expect("one JSON object")
}

fn lines(rx: &Receiver<Msg>) -> Vec<Value> {
    let mut v = Vec::new();
    while let Ok(m) = rx.try_recv() {
        if let Msg::Line(l) = m {
            assert!(!l.contains('\n'), "{l}");
            v.push(parse(&l));
        }
    }
    v
}

#[test]
fn each_kind_is_one_json_object_with_seq_time_kind_and_fields() {
    let names = [
        "mailbox",
        "event",
        "interrupt",
        "decoder",
        "memslot",
        "api",
        "inject",
        "fault",
        "dc",
        "vm",
    ];
    for (kind, name) in Kind::ALL.into_iter().zip(names) {
        let v = parse(&line(7, 42, &rec(kind, Some("mem0"), json!({"a": 1}))));
        assert_eq!(
            v,
            json!({"seq": 7, "t_us": 42, "kind": name, "device": "mem0", "a": 1})
        );
    }
    let v = parse(&line(
        1,
        0,
        &rec(Kind::Vm, None, json!({"state": "started"})),
    ));
    assert!(v.get("device").is_none());
    assert_eq!(v["state"], "started");
}

#[test]
fn fields_never_override_the_records_own_keys() {
    let v = parse(&line(
        3,
        9,
        &rec(
            Kind::Dc,
            Some("d"),
            json!({"seq": 99, "kind": "x", "step": "offered"}),
        ),
    ));
    assert_eq!(
        (v["seq"].clone(), v["kind"].clone()),
        (json!(3), json!("dc"))
    );
    assert_eq!(v["step"], "offered");
    let v = parse(&line(4, 0, &rec(Kind::Api, None, json!([1, 2]))));
    assert_eq!(v["value"], json!([1, 2]));
    let v = parse(&line(5, 0, &rec(Kind::Api, None, Value::Null)));
    assert_eq!(v.as_object().map(|o| o.len()), Some(3));
}

#[test]
fn the_records_own_keys_come_first() {
    let l = line(
        8,
        1,
        &rec(Kind::Mailbox, Some("m\"0"), json!({"a": 1, "device": "x"})),
    );
    assert_eq!(
        l,
        r#"{"seq":8,"t_us":1,"kind":"mailbox","device":"m\"0","a":1}"#
    );
    assert_eq!(
        line(9, 2, &rec(Kind::Vm, None, json!({}))),
        r#"{"seq":9,"t_us":2,"kind":"vm"}"#
    );
}

#[test]
fn records_are_numbered_from_one_and_operator_records_reach_the_ring() {
    let (tx, rx) = sync_channel(16);
    let ring = Arc::new(EventRing::new(16));
    let sink = TraceSink::new(Some(tx), Some(ring.clone()));
    sink.record(rec(Kind::Mailbox, Some("mem0"), json!({})));
    sink.record(rec(Kind::Dc, Some("mem0"), json!({"step": "accepted"})));
    sink.record(rec(Kind::Interrupt, None, json!({})));
    let got = lines(&rx);
    let seqs: Vec<_> = got.iter().map(|v| v["seq"].clone()).collect();
    assert_eq!(seqs, [json!(1), json!(2), json!(3)]);
    let t: Vec<u64> = got.iter().filter_map(|v| v["t_us"].as_u64()).collect();
    assert!(t.windows(2).all(|w| w[0] <= w[1]), "{t:?}");
    let r = ring.read_after(0, 10);
    assert_eq!(r.lines.len(), 1);
    assert_eq!(r.lines[0].0, 2);
    assert_eq!(parse(&r.lines[0].1)["step"], "accepted");
}

#[test]
fn a_full_queue_counts_drops_and_says_so_when_room_returns() {
    let (tx, rx) = sync_channel(2);
    let sink = TraceSink::new(Some(tx), None);
    for _ in 0..5 {
        sink.record(rec(Kind::Event, None, json!({})));
    }
    assert_eq!(lines(&rx).len(), 2);
    sink.record(rec(Kind::Event, None, json!({"n": 6})));
    let got = lines(&rx);
    assert_eq!(got[0]["kind"], "dropped");
    assert_eq!(got[0]["count"], 3);
    assert_eq!(got[1]["n"], 6);
    assert_eq!(got[1]["seq"], 6);
}

#[test]
fn what_a_sink_wants() {
    let ring = Arc::new(EventRing::new(4));
    let stream_only = TraceSink::new(None, Some(ring));
    assert!(stream_only.wants(Kind::Dc) && stream_only.wants(Kind::Vm));
    assert!(!stream_only.wants(Kind::Mailbox) && !stream_only.wants(Kind::Memslot));
    let (tx, _rx) = sync_channel(1);
    let file_only = TraceSink::new(Some(tx), None);
    assert!(Kind::ALL.iter().all(|&k| file_only.wants(k)));
}

#[test]
fn the_writer_writes_lines_and_runs_set_up_on_its_thread() {
    let dir = std::env::temp_dir().join(format!("cxlvmm-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.jsonl");
    let (tx, rx) = sync_channel(4);
    let f = File::create(&path).unwrap();
    let w = std::thread::spawn(move || write_lines(rx, BufWriter::new(f)));
    let (ran_tx, ran_rx) = std::sync::mpsc::channel();
    tx.send(Msg::Run(Box::new(move || {
        let _ = ran_tx.send(std::thread::current().id());
    })))
    .unwrap();
    tx.send(Msg::Line("{\"a\":1}".into())).unwrap();
    tx.send(Msg::Line("{\"b\":2}".into())).unwrap();
    drop(tx);
    w.join().unwrap();
    assert_ne!(ran_rx.recv().unwrap(), std::thread::current().id());
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, "{\"a\":1}\n{\"b\":2}\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_trace_file_that_cannot_be_created_is_a_start_up_error() {
    let e = start(Some(Path::new("/nonexistent-dir/trace.jsonl")), false)
        .err()
        .expect("an error");
    assert!(e.contains("--trace '/nonexistent-dir/trace.jsonl'"), "{e}");
    assert!(start(None, false).expect("nothing to do").is_none());
}

#[test]
fn each_start_makes_its_own_sink_active_until_it_finishes() {
    let a = start(None, true).unwrap().unwrap();
    let ring_a = events_ring().unwrap();
    let b = start(None, true).unwrap().unwrap();
    let ring_b = events_ring().unwrap();
    assert!(!Arc::ptr_eq(&ring_a, &ring_b));
    // Finishing the one no longer active leaves the other in place.
    a.finish();
    assert!(Arc::ptr_eq(&events_ring().unwrap(), &ring_b));
    trace::emit(Kind::Vm, None, || json!({"state": "started"}));
    assert_eq!(ring_b.read_after(0, 10).lines.len(), 1);
    assert!(ring_a.read_after(0, 10).lines.is_empty());
    b.finish();
    assert!(events_ring().is_none());
    assert!(!trace::enabled_for(Kind::Vm));
}
