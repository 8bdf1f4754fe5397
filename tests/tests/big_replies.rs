//! Replies too big to hold until the end of their batch leave as soon as they are made
//! (`node/src/conn.rs`, `WRITE_EARLY`): a client reading a pipeline of large LRANGEs starts
//! on the first reply while the server builds the next ones.

use std::time::{Duration, Instant};

use ferrodis_tests::resp_client::encode_command;
use ferrodis_tests::Server;

#[test]
fn a_big_reply_leaves_before_the_rest_of_its_batch_runs() {
    let s = Server::ferrodis();
    let mut c = s.client();
    let value = "x".repeat(1024);
    let mut push = vec!["RPUSH", "big"];
    push.extend(std::iter::repeat_n(value.as_str(), 100));
    assert_eq!(c.ok(push).as_int(), Some(100));

    // The LRANGE (about 100 KB) is followed in the same write by a WAIT that, with no
    // replicas, holds the batch for a second.
    let mut batch = encode_command(["LRANGE", "big", "0", "-1"]);
    batch.extend(encode_command(["WAIT", "1", "1000"]));
    let t0 = Instant::now();
    c.send_raw(&batch).expect("send");
    let range = c.read_reply().expect("LRANGE reply");
    let first = t0.elapsed();
    assert_eq!(range.children().len(), 100);
    assert!(range
        .children()
        .iter()
        .all(|e| e.as_bytes() == Some(value.as_bytes())));
    assert!(
        first < Duration::from_millis(700),
        "the LRANGE reply waited for the WAIT behind it: {first:?}"
    );
    let wait = c.read_reply().expect("WAIT reply");
    assert_eq!(wait.as_int(), Some(0));
    assert!(t0.elapsed() >= Duration::from_millis(1000));

    // Small replies still go out together, after the batch.
    let mut batch = encode_command(["LRANGE", "big", "0", "0"]);
    batch.extend(encode_command(["WAIT", "1", "300"]));
    let t0 = Instant::now();
    c.send_raw(&batch).expect("send");
    assert_eq!(c.read_reply().expect("LRANGE").children().len(), 1);
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!(c.read_reply().expect("WAIT").as_int(), Some(0));
}
