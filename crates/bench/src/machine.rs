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

    /// `{"kernel":..,"cpu_model":..,"cpus":..}`, as every report's JSON names the machine.
    pub(crate) fn to_json(&self) -> String {
        crate::JsonObject::new()
            .str("kernel", &self.kernel)
            .str("cpu_model", &self.cpu_model)
            .num("cpus", self.cpus as f64)
            .finish()
    }
}

/// The machine's load averages (1, 5, 15 min) from /proc/loadavg, empty when unreadable: other
/// work on a shared machine shows here.
pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
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

    #[test]
    fn json_names_kernel_cpu_and_count() {
        let m = Machine {
            kernel: "6.18.44".into(),
            cpu_model: "AMD \"EPYC\"".into(),
            cpus: 2,
        };
        assert_eq!(
            m.to_json(),
            r#"{"kernel":"6.18.44","cpu_model":"AMD \"EPYC\"","cpus":2}"#
        );
    }
}
