//! Who may connect and what they may do: Mosquitto's password file and ACL file.
//!
//! Pure data and checks, no I/O beyond reading the files: the broker asks these modules at
//! CONNECT (passwords) and at PUBLISH, SUBSCRIBE and delivery (ACLs).

pub mod acl;
pub mod password;
