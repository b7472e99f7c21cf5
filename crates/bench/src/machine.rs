//! The machine a benchmark ran on: every report names the kernel and the CPU it measured.

/// The machine a benchmark ran on.
#[derive(Clone, Debug)]
pub struct Machine {
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// First "model name" of /proc/cpuinfo ("unknown" when absent, e.g. on some ARM kernels).
    pub cpu_model: String,
    /// Online CPUs.
    pub cpus: usize,
}

impl Machine {
    /// Describe the machine this process runs on.
    pub fn current() -> Machine {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| cpu_model_of(&s))
            .unwrap_or_else(|| "unknown".to_string());
        Machine {
            kernel: ringlog_runtime::uring::probe::kernel_release(),
            cpu_model,
            cpus: ringlog_runtime::online_cpus(),
        }
    }
}

/// The first "model name" value of a /proc/cpuinfo text.
fn cpu_model_of(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_model_is_the_first_model_name_line() {
        let cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\n\
                       model name\t: other\n";
        assert_eq!(cpu_model_of(cpuinfo).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model_of("processor\t: 0\n"), None);
    }
}
