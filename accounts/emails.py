"""One helper for every email: a subject, a text and an HTML template per email."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def build_email(name, *, to, context, attachments=()):
    """templates/emails/<name>_subject.txt, <name>.txt and <name>.html."""
    context = {"site_url": settings.SITE_URL, **context}
    subject = " ".join(render_to_string(f"emails/{name}_subject.txt", context).split())
    text = render_to_string(f"emails/{name}.txt", context)
    html = render_to_string(f"emails/{name}.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, to)
    message.attach_alternative(html, "text/html")
    for filename, content, mimetype in attachments:
        message.attach(filename, content, mimetype)
    return message


def send_email(name, *, to, context, attachments=()):
    """Send now; raises on mail errors so the calling task can retry."""
    return build_email(name, to=to, context=context, attachments=attachments).send(
        fail_silently=False
    )
