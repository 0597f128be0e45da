pub(crate) mod smtp;
