"""The HTML pages: the cached index, a post, writing (with an image) and deleting posts."""

from __future__ import annotations

from flask import abort, jsonify, redirect, request, url_for

from batteries import Blueprint, cached, current_user, db, flash, login_required, templated
from batteries.i18n import _, localize
from batteries.uploads import UploadNotAllowed, save_upload, send_upload

from . import LANGUAGES
from .forms import PostForm
from .models import Post
from .tasks import send_digest

bp = Blueprint("posts", __name__)
localize(bp, LANGUAGES, "en")


@bp.get("/")
@cached(timeout=10)
@templated("posts/index.html")
def index():
    page = db.paginate(db.select(Post).order_by(Post.created.desc(), Post.id.desc()), per_page=10)
    return {"page": page}


@bp.get("/posts/<int:post_id>")
@templated("posts/show.html")
def show(post_id: int):
    return {"post": db.get_or_404(Post, post_id)}


@bp.route("/posts/new", methods=["GET", "POST"])
@login_required
@templated("posts/new.html")
def new():
    form = PostForm()
    if form.validate_on_submit():
        post = Post(author=current_user, title=form.title.data, body=form.body.data or "")
        upload = request.files.get("image")
        if upload is not None and upload.filename:
            try:
                post.image = save_upload(upload)
            except UploadNotAllowed:
                form.image.errors.append(_("Images only (png, jpg, gif, webp)."))
                if request.wants_json:  # the page's upload script: the field's error, as JSON
                    return jsonify(errors=form.errors), 400
                return {"form": form}, 400
        db.session.add(post)
        db.session.commit()
        flash.success(_("Post saved."))
        if request.wants_json:
            return jsonify(id=post.id, location=url_for("posts.show", post_id=post.id)), 201
        return redirect(url_for("posts.show", post_id=post.id), 302)
    if request.method == "POST" and request.wants_json:
        return jsonify(errors=form.errors), 400
    return {"form": form}


@bp.route("/posts/<int:post_id>", methods=["DELETE"])
@login_required
def delete(post_id: int):
    """Reached from the HTML form on the post page: POST with a hidden _method=DELETE."""
    post = db.get_or_404(Post, post_id)
    if post.author_id != current_user.id:
        abort(403)
    db.session.delete(post)
    db.session.commit()
    flash.success(_("Post deleted."))
    return redirect(url_for("posts.index"), code=303)


@bp.post("/digest")
@login_required
def digest():
    result = send_digest.delay(current_user.id)
    if request.wants_json:
        return {"task": result.id, "status_url": url_for("batteries_task_result", task_id=result.id)}, 202
    flash.info(_("Digest queued."))
    return redirect(url_for("posts.index"), 302)


@bp.get("/uploads/<path:name>")
def uploaded(name: str):
    return send_upload(name)
