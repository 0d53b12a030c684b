//! Boot configuration text: the generic iPXE script that chains to a
//! per-MAC one, the per-node iPXE script, PXELINUX and GRUB configurations.
//! Pure functions of their inputs, so every byte a machine receives is
//! checked by unit tests.

/// A ramdisk to boot: where its kernel and initramfs are fetched from (as
/// the loader names them: an HTTP URL for iPXE, a TFTP path for PXELINUX,
/// an ISO path for GRUB on virtual media) and its kernel command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ramdisk {
    /// The kernel's location.
    pub kernel: String,
    /// The initramfs' location.
    pub initrd: String,
    /// Kernel command-line arguments, without any `BOOTIF`.
    pub params: String,
}

/// The agent's kernel command line: the API it calls back (`ipa-api-url`,
/// reference §7.1) followed by the operator's extra arguments.
pub fn kernel_params(api_url: &str, append: &str) -> String {
    let append = append.trim();
    if append.is_empty() {
        format!("ipa-api-url={api_url}")
    } else {
        format!("ipa-api-url={api_url} {append}")
    }
}

/// A MAC in lower-case hex with hyphens (`52-54-00-12-34-56`): iPXE's
/// `${netX/mac:hexhyp}` and, after `01-`, PXELINUX's and GRUB's per-MAC file
/// names. `None` for anything that is not six hex octets.
pub fn mac_hexhyp(mac: &str) -> Option<String> {
    let octets: Vec<&str> = mac.split([':', '-']).collect();
    let valid = octets.len() == 6
        && octets
            .iter()
            .all(|o| o.len() == 2 && o.chars().all(|c| c.is_ascii_hexdigit()));
    valid.then(|| octets.join("-").to_ascii_lowercase())
}

/// The script every iPXE client is pointed at (`boot.ipxe`): it tries each
/// NIC in turn and chains to `<base>/boot/ipxe/<mac>.ipxe`, the per-node
/// script linked for that MAC, so one DHCP answer serves every node. A
/// machine none of whose MACs has a script waits and powers off instead of
/// booting something unintended.
pub fn generic_ipxe_script(base_url: &str) -> String {
    format!(
        "#!ipxe\n\
         # Ferrite: chain to the boot script of the first NIC that has one.\n\
         set i:int32 0\n\
         :next\n\
         isset ${{net${{i}}/mac}} || goto none\n\
         chain --autofree {base_url}/boot/ipxe/${{net${{i}}/mac:hexhyp}}.ipxe || goto skip\n\
         exit\n\
         :skip\n\
         inc i\n\
         goto next\n\
         :none\n\
         echo Ferrite has no boot script for any NIC of this machine.\n\
         sleep 30\n\
         poweroff || exit\n"
    )
}

/// The per-node iPXE script: fetch kernel and initramfs over HTTP and boot
/// them with `BOOTIF` set to the NIC that booted, retrying with a growing
/// pause (a conductor busy staging files must not strand the machine), then
/// powering off so the conductor's timeout, not a boot loop, reports it.
pub fn node_ipxe_script(ramdisk: &Ramdisk) -> String {
    let Ramdisk {
        kernel,
        initrd,
        params,
    } = ramdisk;
    format!(
        "#!ipxe\n\
         set attempts:int32 10\n\
         set pause:int32 0\n\
         :deploy\n\
         imgfree\n\
         kernel --name kernel {kernel} initrd=ramdisk {params} BOOTIF=${{mac}} || goto retry\n\
         initrd --name ramdisk {initrd} || goto retry\n\
         boot\n\
         :retry\n\
         iseq ${{pause}} ${{attempts}} && goto fail ||\n\
         inc pause\n\
         echo Loading the ramdisk failed; retrying in ${{pause}} seconds.\n\
         sleep ${{pause}}\n\
         goto deploy\n\
         :fail\n\
         echo Loading the ramdisk failed ${{attempts}} times; powering off.\n\
         poweroff\n"
    )
}

/// A PXELINUX configuration (`pxelinux.cfg/01-<mac>`, BIOS with the `pxe`
/// interface): kernel and initramfs by TFTP; `ipappend 3` adds `BOOTIF`.
pub fn pxelinux_config(ramdisk: &Ramdisk) -> String {
    let Ramdisk {
        kernel,
        initrd,
        params,
    } = ramdisk;
    format!(
        "default deploy\n\
         \n\
         label deploy\n\
         kernel {kernel}\n\
         append initrd={initrd} {params}\n\
         ipappend 3\n"
    )
}

/// A GRUB configuration: UEFI machines with the `pxe` interface (by TFTP,
/// `bootif` set to the per-MAC file's MAC) and virtual-media ISOs (files on
/// the ISO, no `bootif`: the agent configures its network from
/// `network_data`).
pub fn grub_config(ramdisk: &Ramdisk, bootif: Option<&str>) -> String {
    let Ramdisk {
        kernel,
        initrd,
        params,
    } = ramdisk;
    let bootif = bootif
        .map(|mac| format!(" BOOTIF=01-{mac}"))
        .unwrap_or_default();
    format!(
        "set default=deploy\n\
         set timeout=5\n\
         set hidden_timeout_quiet=false\n\
         \n\
         menuentry \"deploy\" --id deploy {{\n\
         \x20   linux {kernel} {params}{bootif}\n\
         \x20   initrd {initrd}\n\
         }}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramdisk() -> Ramdisk {
        Ramdisk {
            kernel: "http://10.0.0.1:8080/boot/nodes/n1/deploy_kernel".into(),
            initrd: "http://10.0.0.1:8080/boot/nodes/n1/deploy_ramdisk".into(),
            params: kernel_params("http://10.0.0.1:8080", "console=ttyS0"),
        }
    }

    #[test]
    fn kernel_params_carry_the_api_url_first() {
        assert_eq!(
            kernel_params("http://a:1", "  nofb console=ttyS0 "),
            "ipa-api-url=http://a:1 nofb console=ttyS0"
        );
        assert_eq!(kernel_params("http://a:1", ""), "ipa-api-url=http://a:1");
    }

    #[test]
    fn macs_become_hexhyp_or_are_refused() {
        assert_eq!(
            mac_hexhyp("52:54:00:AB:cd:0F").as_deref(),
            Some("52-54-00-ab-cd-0f")
        );
        assert_eq!(
            mac_hexhyp("52-54-00-ab-cd-0f").as_deref(),
            Some("52-54-00-ab-cd-0f")
        );
        for bad in [
            "",
            "52:54:00:ab:cd",
            "52:54:00:ab:cd:0g",
            "../../etc:aa:bb:cc:dd:ee",
        ] {
            assert_eq!(mac_hexhyp(bad), None, "{bad}");
        }
    }

    #[test]
    fn generic_script_chains_by_each_mac() {
        let s = generic_ipxe_script("http://10.0.0.1:8080");
        assert!(s.starts_with("#!ipxe\n"));
        assert!(s.contains(
            "chain --autofree http://10.0.0.1:8080/boot/ipxe/${net${i}/mac:hexhyp}.ipxe || goto skip"
        ));
        assert!(s.contains("isset ${net${i}/mac} || goto none"));
        assert!(s.contains("inc i\ngoto next"));
        assert!(s.contains("poweroff"));
    }

    #[test]
    fn node_script_boots_kernel_and_ramdisk_with_bootif() {
        let s = node_ipxe_script(&ramdisk());
        assert!(s.starts_with("#!ipxe\n"));
        assert!(s.contains(
            "kernel --name kernel http://10.0.0.1:8080/boot/nodes/n1/deploy_kernel initrd=ramdisk \
             ipa-api-url=http://10.0.0.1:8080 console=ttyS0 BOOTIF=${mac} || goto retry"
        ));
        assert!(s.contains(
            "initrd --name ramdisk http://10.0.0.1:8080/boot/nodes/n1/deploy_ramdisk || goto retry"
        ));
        // Retries are bounded and end powered off.
        assert!(s.contains("iseq ${pause} ${attempts} && goto fail"));
        assert!(s.trim_end().ends_with("poweroff"));
    }

    #[test]
    fn pxelinux_and_grub_configs() {
        let r = Ramdisk {
            kernel: "nodes/n1/deploy_kernel".into(),
            initrd: "nodes/n1/deploy_ramdisk".into(),
            params: "ipa-api-url=http://a:1".into(),
        };
        assert_eq!(
            pxelinux_config(&r),
            "default deploy\n\nlabel deploy\nkernel nodes/n1/deploy_kernel\n\
             append initrd=nodes/n1/deploy_ramdisk ipa-api-url=http://a:1\nipappend 3\n"
        );
        let g = grub_config(&r, Some("52-54-00-12-34-56"));
        assert!(g.contains(
            "    linux nodes/n1/deploy_kernel ipa-api-url=http://a:1 BOOTIF=01-52-54-00-12-34-56\n"
        ));
        assert!(g.contains("    initrd nodes/n1/deploy_ramdisk\n"));
        assert!(g.contains("set default=deploy"));
        assert!(!grub_config(&r, None).contains("BOOTIF"));
    }
}
