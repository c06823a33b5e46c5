//! libtorch intra-op threads per model thread.
//!
//! `at::set_num_threads` writes a process-wide value *and* the calling
//! thread's OpenMP team size, and each thread's first parallel op re-reads
//! the process-wide value (ATen's lazy per-thread init). So two model
//! threads that each call `tch::set_num_threads` race: whichever sets it
//! last decides the other's team size if that one has not run an op yet.
//! [`pin`] runs the lazy init first, then sets the size, so the value
//! sticks to the calling thread whatever other threads do later.

/// Fix the calling thread's libtorch intra-op thread count to `n` (≥ 1).
pub fn pin(n: usize) {
    // `get_num_threads` performs the thread's one-time lazy init.
    let _ = tch::get_num_threads();
    tch::set_num_threads(n.max(1) as i32);
}

/// Cores this process may use (at least 1).
pub fn available() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    #[test]
    fn pinned_count_survives_another_thread_setting_its_own() {
        let t = std::thread::spawn(|| {
            super::pin(1);
            let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
            let other = std::thread::spawn(move || {
                super::pin(2);
                let _ = go_tx.send(());
            });
            let _ = go_rx.recv();
            let _ = other.join();
            tch::get_num_threads()
        });
        assert_eq!(t.join().unwrap(), 1);
    }
}
