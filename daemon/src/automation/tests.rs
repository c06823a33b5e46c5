use std::time::Duration;

use super::Clock;

/// The clock follows tokio's paused time and the home's time zone.
#[tokio::test(start_paused = true)]
async fn clock_follows_tokio_time_in_the_home_zone() {
    // 2024-06-21T12:00:00Z; London is on BST (UTC+1).
    let c = Clock::following_tokio(1_718_971_200_000, "Europe/London").expect("zone");
    let a = c.now();
    assert_eq!((a.offset_s, a.secs), (3600, 13 * 3600));
    tokio::time::advance(Duration::from_secs(90)).await;
    let b = c.now();
    assert_eq!(b.ms - a.ms, 90_000);
    assert_eq!(b.secs, 13 * 3600 + 90);
    // In December London is on GMT.
    let w = Clock::following_tokio(1_734_782_400_000, "Europe/London").expect("zone");
    assert_eq!(w.now().offset_s, 0);
    assert!(Clock::following_tokio(0, "Mars/Olympus").is_err());
}
