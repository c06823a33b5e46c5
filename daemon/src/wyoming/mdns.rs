//! The `_wyoming._tcp` mDNS announcement (`mdns-sd`), as the reference
//! `wyoming.zeroconf` makes it: instance `<name>._wyoming._tcp.local.` on
//! the listening port. A wildcard bind (`0.0.0.0`) announces every
//! interface's addresses (and follows them as they change); a specific
//! address announces only that one.

use std::net::SocketAddr;

use mdns_sd::{ServiceDaemon, ServiceInfo};

pub const SERVICE_TYPE: &str = "_wyoming._tcp.local.";

/// This machine's host name (`/proc/sys/kernel/hostname`), else `hubd`.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or_else(|| "hubd".into())
}

/// The service record for a server listening on `addr`.
pub fn service_info(instance: &str, host: &str, addr: SocketAddr) -> Result<ServiceInfo, mdns_sd::Error> {
    let host = format!("{host}.local.");
    let props: &[(&str, &str)] = &[];
    if addr.ip().is_unspecified() {
        Ok(ServiceInfo::new(SERVICE_TYPE, instance, &host, "", addr.port(), props)?.enable_addr_auto())
    } else {
        ServiceInfo::new(SERVICE_TYPE, instance, &host, addr.ip(), addr.port(), props)
    }
}

/// A running announcement; [`Announcement::stop`] says goodbye on the LAN.
pub struct Announcement {
    daemon: ServiceDaemon,
    fullname: String,
}

impl Announcement {
    pub fn start(instance: &str, addr: SocketAddr) -> Result<Announcement, mdns_sd::Error> {
        let info = service_info(instance, &host_name(), addr)?;
        let fullname = info.get_fullname().to_string();
        let daemon = ServiceDaemon::new()?;
        daemon.register(info)?;
        Ok(Announcement { daemon, fullname })
    }

    pub fn fullname(&self) -> &str {
        &self.fullname
    }

    /// Unregister (goodbye packets) and stop the daemon thread, without blocking long.
    pub fn stop(self) {
        if let Ok(rx) = self.daemon.unregister(&self.fullname) {
            let _ = rx.recv_timeout(std::time::Duration::from_secs(1));
        }
        if let Ok(rx) = self.daemon.shutdown() {
            let _ = rx.recv_timeout(std::time::Duration::from_secs(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_follow_the_bind_address() {
        let info = service_info("hubd-test", "box", "192.0.2.7:10700".parse().unwrap()).unwrap();
        assert_eq!(info.get_fullname(), "hubd-test._wyoming._tcp.local.");
        assert_eq!(info.get_hostname(), "box.local.");
        assert_eq!(info.get_port(), 10700);
        let v4: Vec<String> = info.get_addresses_v4().iter().map(|a| a.to_string()).collect();
        assert_eq!(v4, vec!["192.0.2.7".to_string()]);
        assert!(!info.is_addr_auto());
        let any = service_info("hubd-test", "box", "0.0.0.0:10701".parse().unwrap()).unwrap();
        assert!(any.is_addr_auto() && any.get_addresses_v4().is_empty(), "filled in per interface");
        assert!(!host_name().is_empty());
    }
}
