//! Waiting for SIGINT/SIGTERM without a signal handler: the signals are blocked in every thread
//! (the mask is inherited by threads created afterwards) and one thread takes them with
//! `sigwait(3)`.

use std::io;

fn term_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a local sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        set
    }
}

/// Block SIGINT and SIGTERM in the calling thread (and threads it creates later). Call before
/// starting the broker.
pub fn block_termination_signals() -> io::Result<()> {
    let set = term_set();
    // SAFETY: `set` is a valid, initialised sigset_t.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Wait for SIGINT or SIGTERM (blocked with [`block_termination_signals`] first); returns the
/// signal number.
pub fn wait_for_termination_signal() -> io::Result<i32> {
    let set = term_set();
    let mut sig: libc::c_int = 0;
    // SAFETY: both pointers are valid for the call.
    let rc = unsafe { libc::sigwait(&set, &mut sig) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(sig)
}
