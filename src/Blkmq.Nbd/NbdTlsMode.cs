namespace Blkmq.Nbd;

/// <summary>How the server offers TLS (the NBD spec's NOTLS, SELECTIVETLS and FORCEDTLS modes).</summary>
public enum NbdTlsMode
{
    /// <summary>No TLS: <c>NBD_OPT_STARTTLS</c> is refused with <c>NBD_REP_ERR_POLICY</c>.</summary>
    Off = 0,

    /// <summary>TLS is offered: a client may upgrade with <c>NBD_OPT_STARTTLS</c> or go on in plain text.</summary>
    On = 1,

    /// <summary>TLS is required: every option but <c>NBD_OPT_STARTTLS</c> and <c>NBD_OPT_ABORT</c> is refused before the upgrade.</summary>
    Require = 2,
}
