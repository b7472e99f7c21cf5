//! What this kernel's io_uring can do: opcodes (IORING_REGISTER_PROBE, 5.6+), setup flags (tried
//! for real), and features reported by `io_uring_setup`. Printed by `ringlog probe`.

use std::fmt;

use io_uring::{opcode, IoUring, Probe};

/// The opcodes ringlog uses, with the op file that wraps each and the kernel that brought it.
pub const OPCODES_USED: &[(&str, u8, &str)] = &[
    ("NOP", opcode::Nop::CODE, "5.1"),
    ("READ", opcode::Read::CODE, "5.6"),
    ("WRITE", opcode::Write::CODE, "5.6"),
    ("FSYNC", opcode::Fsync::CODE, "5.1"),
    ("POLL_ADD", opcode::PollAdd::CODE, "5.1"),
    ("SENDMSG", opcode::SendMsg::CODE, "5.3"),
    ("TIMEOUT", opcode::Timeout::CODE, "5.4"),
    ("ACCEPT", opcode::Accept::CODE, "5.5"),
    ("ASYNC_CANCEL", opcode::AsyncCancel::CODE, "5.5"),
    ("LINK_TIMEOUT", opcode::LinkTimeout::CODE, "5.5"),
    ("CONNECT", opcode::Connect::CODE, "5.5"),
    ("SEND", opcode::Send::CODE, "5.6"),
    ("RECV", opcode::Recv::CODE, "5.6"),
    ("SPLICE", opcode::Splice::CODE, "5.7"),
    ("MSG_RING", opcode::MsgRingData::CODE, "5.18"),
    ("SEND_ZC", opcode::SendZc::CODE, "6.0"),
];

/// Result of probing the kernel.
#[derive(Clone, Debug)]
pub struct ProbeReport {
    /// `uname -r`.
    pub kernel: String,
    /// Why a plain ring could not be created, if it could not.
    pub setup_error: Option<String>,
    /// (name, supported, minimum kernel) for each opcode we use.
    pub opcodes: Vec<(&'static str, bool, &'static str)>,
    /// SINGLE_ISSUER|DEFER_TASKRUN|TASKRUN_FLAG accepted (6.1+).
    pub defer_taskrun: bool,
    /// COOP_TASKRUN accepted (5.19+).
    pub coop_taskrun: bool,
    /// SQPOLL accepted (needs no privilege since 5.11).
    pub sqpoll: bool,
    /// Features reported by the kernel.
    pub features: Vec<(&'static str, bool)>,
}

impl ProbeReport {
    /// Is `name` (as in [`OPCODES_USED`]) supported?
    pub fn supports(&self, name: &str) -> bool {
        self.opcodes.iter().any(|(n, ok, _)| *n == name && *ok)
    }
}

/// Kernel release string.
pub fn kernel_release() -> String {
    // SAFETY: an all-zero utsname is a valid out-buffer.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: u is valid for the call.
    if unsafe { libc::uname(&mut u) } != 0 {
        return "unknown".into();
    }
    // SAFETY: uname NUL-terminates the field.
    let c = unsafe { std::ffi::CStr::from_ptr(u.release.as_ptr()) };
    c.to_string_lossy().into_owned()
}

/// Probe io_uring on this thread.
pub fn probe() -> ProbeReport {
    let kernel = kernel_release();
    let ring = match IoUring::new(8) {
        Ok(r) => r,
        Err(e) => {
            return ProbeReport {
                kernel,
                setup_error: Some(e.to_string()),
                opcodes: OPCODES_USED
                    .iter()
                    .map(|(n, _, k)| (*n, false, *k))
                    .collect(),
                defer_taskrun: false,
                coop_taskrun: false,
                sqpoll: false,
                features: Vec::new(),
            }
        }
    };
    let mut probe = Probe::new();
    let probed = ring.submitter().register_probe(&mut probe).is_ok();
    let opcodes = OPCODES_USED
        .iter()
        .map(|(n, code, k)| (*n, probed && probe.is_supported(*code), *k))
        .collect();
    let p = ring.params();
    let features = vec![
        ("NODROP", p.is_feature_nodrop()),
        ("SUBMIT_STABLE", p.is_feature_submit_stable()),
        ("FAST_POLL", p.is_feature_fast_poll()),
        ("EXT_ARG", p.is_feature_ext_arg()),
        ("NATIVE_WORKERS", p.is_feature_native_workers()),
        ("LINKED_FILE", p.is_feature_linked_file()),
        ("RECVSEND_BUNDLE", p.is_feature_recvsend_bundle()),
    ];
    let defer_taskrun = IoUring::<io_uring::squeue::Entry>::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_taskrun_flag()
        .build(8)
        .is_ok();
    let coop_taskrun = IoUring::<io_uring::squeue::Entry>::builder()
        .setup_coop_taskrun()
        .setup_taskrun_flag()
        .build(8)
        .is_ok();
    let sqpoll = IoUring::<io_uring::squeue::Entry>::builder()
        .setup_sqpoll(10)
        .build(8)
        .is_ok();
    ProbeReport {
        kernel,
        setup_error: None,
        opcodes,
        defer_taskrun,
        coop_taskrun,
        sqpoll,
        features,
    }
}

impl fmt::Display for ProbeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "kernel: {}", self.kernel)?;
        if let Some(e) = &self.setup_error {
            writeln!(f, "io_uring: unavailable ({e})")?;
            return writeln!(f, "runtime will use: epoll");
        }
        writeln!(f, "io_uring opcodes used by ringlog:")?;
        for (name, ok, since) in &self.opcodes {
            writeln!(
                f,
                "  {:<14} {:<4} (since {since})",
                name,
                if *ok { "yes" } else { "NO" }
            )?;
        }
        writeln!(f, "setup flags:")?;
        writeln!(
            f,
            "  SINGLE_ISSUER|DEFER_TASKRUN  {}",
            yes(self.defer_taskrun)
        )?;
        writeln!(
            f,
            "  COOP_TASKRUN|TASKRUN_FLAG    {}",
            yes(self.coop_taskrun)
        )?;
        writeln!(f, "  SQPOLL                       {}", yes(self.sqpoll))?;
        writeln!(f, "features:")?;
        for (name, ok) in &self.features {
            writeln!(f, "  {:<16} {}", name, yes(*ok))?;
        }
        let mode = if self.defer_taskrun {
            "io_uring with SINGLE_ISSUER|DEFER_TASKRUN"
        } else if self.coop_taskrun {
            "io_uring with COOP_TASKRUN (no DEFER_TASKRUN: expect ~10-25% less on small requests)"
        } else {
            "io_uring without task-run flags"
        };
        write!(
            f,
            "runtime will use: {mode} (default; --io epoll to compare)"
        )
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}
